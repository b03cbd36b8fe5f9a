// Where a Locktopus server is, how to name a lock path on a command line,
// and its two plain HTTP pages.
//
// Thread safety: pure functions, except that FetchStats and FetchStatus
// open their own connection (safe to call from any thread).

#ifndef LOCKTOPUS_CLIENT_INCLUDE_LOCKTOPUS_ADDRESS_H_
#define LOCKTOPUS_CLIENT_INCLUDE_LOCKTOPUS_ADDRESS_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace locktopus::client {

struct ServerAddress {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9009;
  std::string ns;  // the namespace; required to lock
  // How long the server keeps an acquired lock after this connection drops;
  // absent: the server's --default-abandon-timeout.
  std::optional<std::uint64_t> abandon_timeout_ms;
  // Gives up connecting (TCP and handshake) after this long.
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
  // How often the Client's background thread answers the server's
  // keep-alive pings between calls. The server pings a connection silent
  // for its --keepalive-ms (10 s by default) and drops it if nothing comes
  // back within another --keepalive-ms, so keep this below the server's
  // --keepalive-ms. 0: no thread, answer only inside calls.
  std::chrono::milliseconds ping_interval = std::chrono::seconds(5);
};

// Parses "ws://HOST[:PORT][/v1][?namespace=NS][&abandon-timeout-ms=N]"
// (http:// is accepted too; the port defaults to 80 as for any such URL).
// Query values are percent-decoded. Throws std::invalid_argument naming
// what is wrong (not a URL, wss://, a bad port or abandon-timeout-ms).
ServerAddress ParseUrl(std::string_view url);

// The WebSocket target for `address`:
// "/v1?namespace=NS[&abandon-timeout-ms=N]".
std::string LockTarget(const ServerAddress& address);

// Parses a lock path as written on a command line: segments separated by
// '/', with "%2F" for a '/' and "%25" for a '%' inside a segment (any %XX
// is decoded). "/" alone is the empty path, the whole namespace; otherwise
// every '/' separates, so "a//b" is {"a","","b"}. Throws
// std::invalid_argument for "" or a bad %-escape.
std::vector<std::string> ParsePath(std::string_view text);

// GET /stats_v1?namespace=NS: the namespace's statistics as JSON text.
// Throws HttpError (404 "Namespace not found" if nobody opened it) or
// ConnectionError.
std::string FetchStats(const ServerAddress& address, std::string_view ns);

// GET /: the server's status page. Throws HttpError or ConnectionError.
std::string FetchStatus(const ServerAddress& address);

}  // namespace locktopus::client

#endif  // LOCKTOPUS_CLIENT_INCLUDE_LOCKTOPUS_ADDRESS_H_
