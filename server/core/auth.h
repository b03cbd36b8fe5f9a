// Bearer tokens (--auth-token-file): the token file's format, the token a
// request carries, and a constant-time check against every listed token.
// No sockets; the request handler (handler.h) asks Authenticator::Allows for
// every request but those of the open routes (routes.h, IsOpen).
//
// The file lists one token per line. Leading and trailing whitespace (a CR
// included) is trimmed; blank lines and lines whose first non-blank
// character is '#' are skipped. Several tokens may be valid at once, for
// rotation. Tokens are never logged; errors name the file, not its content.
//
// Thread safety: the free functions are pure. An Authenticator's Allows may
// run on any thread, concurrently with Reload: the token list is an
// immutable vector swapped under a mutex.

#ifndef LOCKTOPUS_SERVER_CORE_AUTH_H_
#define LOCKTOPUS_SERVER_CORE_AUTH_H_

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace locktopus::server {

using Tokens = std::vector<std::string>;

// The tokens of a token file's text, in file order.
Tokens ParseTokens(std::string_view text);

// Reads and parses `path`. Returns the tokens, or an error when the file
// cannot be read (kIo) or lists no token (kInvalidArgument).
Result<Tokens> ReadTokenFile(const std::string& path);

// Whether `candidate` equals one of `tokens`. Compares with every token to
// its end, without an early exit, so that the time taken does not depend on
// where a guess first differs.
// Whether `candidate` equals `secret`, in a time that depends on the
// secret's length only (which the server knows), never on where the
// candidate first differs.
bool EqualConstantTime(std::string_view candidate, std::string_view secret);

bool MatchesAnyToken(std::string_view candidate, const Tokens& tokens);

// The token a request carries: `Authorization: Bearer <token>` (scheme
// case-insensitive), else `query_token`, its URL-decoded query parameter
// `token` (browsers cannot set headers on a WebSocket upgrade). nullopt if
// neither.
std::optional<std::string> RequestToken(
    std::string_view authorization,
    const std::optional<std::string>& query_token);

class Authenticator {
 public:
  // Loads the tokens of `path`, or returns why it could not
  // (ReadTokenFile's error).
  static Result<std::unique_ptr<Authenticator>> Load(std::string path);

  // Reads the file again. On success, the new tokens replace the old ones
  // and their number is returned; on failure the old tokens stay and the
  // error is returned.
  Result<std::size_t> Reload();

  // Whether a request with this Authorization header (empty if absent) and
  // this `token` query parameter carries a listed token.
  bool Allows(std::string_view authorization,
              const std::optional<std::string>& query_token) const;

  const std::string& path() const { return path_; }
  std::size_t size() const;

 private:
  Authenticator(std::string path, Tokens tokens);

  const std::string path_;
  mutable std::mutex mu_;
  std::shared_ptr<const Tokens> tokens_;  // guarded by mu_
};

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_AUTH_H_
