// The name locktopusctl gives its connection (ServerAddress::client_name,
// client=NAME on /v1) so that an operator looking at a lock sees which
// machine, process and command hold it: "HOST:PID COMMAND ARGS...", unless
// --client-name names it otherwise.
//
// The server accepts UTF-8 without control characters, at most 128 bytes,
// and refuses the connection otherwise; a command line may hold anything,
// so the default is made to fit rather than refused.
//
// Thread safety: pure.

#ifndef LOCKTOPUS_CLIENT_CTL_CLIENT_NAME_H_
#define LOCKTOPUS_CLIENT_CTL_CLIENT_NAME_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace locktopus::ctl {

// The longest client name the server accepts, in bytes.
inline constexpr std::size_t kMaxClientNameBytes = 128;

// `text` made a valid client name: each control character (C0, DEL, C1)
// becomes a space, each byte that is not part of valid UTF-8 a '?', and
// the result is cut to at most `max_bytes` without splitting a character.
std::string FitClientName(std::string_view text,
                          std::size_t max_bytes = kMaxClientNameBytes);

// "HOST:PID COMMAND ARGS..." (arguments joined by single spaces), fitted.
// The name goes to the server's logs and lock listings, so no token goes
// with it: an argument holding `token` (if not empty), one that follows
// "--token" and one that starts with "--token=" are written "<token>" (as
// a command that is itself a locktopusctl would have them).
std::string DefaultClientName(std::string_view host, long pid,
                              const std::vector<std::string>& command,
                              std::string_view token = {});

}  // namespace locktopus::ctl

#endif  // LOCKTOPUS_CLIENT_CTL_CLIENT_NAME_H_
