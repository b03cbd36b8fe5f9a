// Where a Locktopus server is and how to reach it (plain or TLS, with or
// without a bearer token), how to name a lock path on a command line, and
// the server's HTTP pages.
//
// Thread safety: pure functions, except that the Fetch* functions open
// their own connection (safe to call from any thread).

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
  // Speak TLS (wss://, https://), as a server run with --tls-cert expects.
  // The server's certificate must chain to a trusted CA (ca_file, or the
  // system's trust store when ca_file is empty) and name `host` (a DNS name,
  // or an IP address in the certificate's subjectAltName); otherwise
  // connecting throws ConnectionError.
  bool tls = false;
  // A PEM file of the CA certificate(s) to trust instead of the system's
  // store, e.g. a private CA's. Ignored without `tls`.
  std::string ca_file;
  // A bearer token for a server run with --auth-token-file, sent as
  // "Authorization: Bearer TOKEN" with every request (never in the URL,
  // where proxies log it). Empty: none. This library never logs it nor
  // puts it in an error message.
  std::string token;
  // Names this client to the server (query parameter client=NAME on /v1):
  // the server shows it in its logs and lock listings beside the peer
  // address. UTF-8 without control characters, at most 128 bytes, or the
  // server refuses the handshake (HttpError 400). Empty: not sent.
  std::string client_name;
  // Gives up connecting (TCP, TLS and WebSocket handshakes) after this long.
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
  // How often, at most, the Client pings the server (more often when the
  // abandon timeout is short: see SilenceRuleFor), and so how often its
  // background thread wakes between calls: to ping, to answer the server's
  // keep-alive pings, and to read what came. The server pings a connection
  // silent for its --keepalive-ms (10 s by default) and drops it if nothing
  // comes back within another --keepalive-ms, so keep this below the
  // server's --keepalive-ms. 0: no thread; pings go out, and the server's
  // are answered, only inside calls.
  std::chrono::milliseconds ping_interval = std::chrono::seconds(5);
  // Open a resumable session (query parameter session=new on /v1; the
  // server must support sessions, docs/protocol.md): the lock then belongs
  // to the session, not to the connection, and a Client whose connection
  // drops reconnects and resumes it within the session's window (client.h,
  // "Sessions"). false: the connection is the session, as it always was.
  bool session = false;
};

// When a Client counts a silent server as lost (client.h, "Silence").
struct SilenceRule {
  // The client pings the server this often, the first time this long after
  // it connects.
  std::chrono::milliseconds ping_every;
  // It counts the connection lost, and its lock with it, once its last
  // proof of life is older than this.
  std::chrono::milliseconds limit;
  // It gives up the connection once its last proof of life is older than
  // this, at most `limit`. A session's connection (ServerAddress::session)
  // is suspect well before its limit: the client drops it and resumes the
  // session on a new one, since a connection that stays silent without
  // ending (a relay that stopped forwarding, a half-open TCP connection)
  // would otherwise never be resumed. The lock is still lost only at
  // `limit`. Without a session, the connection is the lock: suspect ==
  // limit.
  std::chrono::milliseconds suspect;
};

// The rule for `address`. With an abandon timeout A (abandon_timeout_ms):
// limit = A - max(A/5, 200 ms), the margin covering the delays on both
// sides (a proof of life's way here, this client's own reaction), and
// ping_every = the smaller of limit/2 and ping_interval, so that a healthy
// connection renews its proof of life in time. When that leaves less than
// 100 ms (A under 300 ms, or 0), or A is not known (absent: the server's
// default applies, which the client cannot see), silence can only be found
// out: ping_every = ping_interval (5 s if 0), and limit = twice that, a ping
// left unanswered for a whole interval. With a session, suspect = limit/2,
// and ping_every is at most limit/4, so that a healthy connection, whose
// proof of life is at most ping_every and a round trip old, is never
// suspect, and half of the window is left to resume in.
SilenceRule SilenceRuleFor(const ServerAddress& address);

// Parses "ws://HOST[:PORT][/v1][?namespace=NS][&abandon-timeout-ms=N]
// [&client=NAME][&session=new]" (http:// is accepted too; the port defaults
// to 80 as for any such URL). wss:// and https:// set `tls`, and their port
// defaults to 443; session=new sets `session`. Query values are
// percent-decoded; other parameters are ignored. Throws
// std::invalid_argument naming what is wrong (not a URL, another scheme, a
// bad port or abandon-timeout-ms, a session= other than new: a Client
// resumes its own session, and takes no token from a URL).
ServerAddress ParseUrl(std::string_view url);

// The WebSocket target for `address`:
// "/v1?namespace=NS[&abandon-timeout-ms=N][&client=NAME][&session=new]",
// values percent-encoded. With `resume_token`, the target that resumes that
// session instead: "&session=TOKEN" in place of "&session=new", and no
// abandon-timeout-ms (the session keeps its own).
std::string LockTarget(const ServerAddress& address,
                       std::string_view resume_token = {});

// Parses a lock path as written on a command line: segments separated by
// '/', with "%2F" for a '/' and "%25" for a '%' inside a segment (any %XX
// is decoded). "/" alone is the empty path, the whole namespace; otherwise
// every '/' separates, so "a//b" is {"a","","b"}. Throws
// std::invalid_argument for "" or a bad %-escape.
std::vector<std::string> ParsePath(std::string_view text);

// Writes `path` the way ParsePath reads it: {} is "/", a '%' inside a
// segment is "%25" and a '/' is "%2F"; nothing else is escaped. The inverse
// of ParsePath for every path but {""} (one empty segment), which no text
// names and which comes out as "".
std::string FormatPath(const std::vector<std::string>& path);

// GET /stats_v1?namespace=NS: the namespace's statistics as JSON text.
// Throws HttpError (404 "Namespace not found" if nobody opened it) or
// ConnectionError.
std::string FetchStats(const ServerAddress& address, std::string_view ns);

// GET /: the server's status page (the dashboard's HTML). Throws HttpError
// or ConnectionError.
std::string FetchStatus(const ServerAddress& address);

// GET /readyz: "serving" while the server takes clients, or "grace: N s
// left" in the grace after a takeover, while it holds acquisitions. Throws
// HttpError 503 with what it is instead as body() ("draining" once it shuts
// down, or its HA role: "standby", "fenced", "resigned"), or
// ConnectionError. Needs no token.
std::string FetchReadiness(const ServerAddress& address);

// GET /metrics: the Prometheus text exposition (docs/operations.md lists
// its series). Throws HttpError or ConnectionError.
std::string FetchMetrics(const ServerAddress& address);

// GET /namespaces_v1[?filter=TEXT][&limit=N]: the busiest open namespaces
// whose name contains `filter` (all when empty), at most `limit` (1..1000;
// nullopt: the server's default, 20), as JSON text (docs/protocol.md has
// its fields). Throws HttpError (400 for a bad limit) or ConnectionError.
std::string FetchNamespaces(const ServerAddress& address,
                            std::string_view filter = {},
                            std::optional<unsigned> limit = std::nullopt);

// What GET /locks_v1 lists: the live locks of one namespace.
struct LocksQuery {
  // Only locks with a resource overlapping this path (nullopt: all).
  std::optional<std::vector<std::string>> path;
  // Locks listed at most (the server allows 1..1000; nullopt: its default).
  std::optional<unsigned> limit;
  // Blockers listed per enqueued lock (0..100; nullopt: the server's
  // default).
  std::optional<unsigned> blockers;
};

// GET /locks_v1?namespace=NS[&path=P][&limit=N][&blockers=M]: the
// namespace's live locks as JSON text (docs/protocol.md has its fields).
// Throws HttpError (404 "Namespace not found" if it is not open now; 404
// "Not found" from a server without the inspector) or ConnectionError.
std::string FetchLocks(const ServerAddress& address, std::string_view ns,
                       const LocksQuery& query = {});

// DELETE /locks_v1?namespace=NS&id=ID: ends live lock `id` of namespace
// `ns` as an operator (docs/protocol.md, Force release); its holder, if
// connected, is closed with code 4000. Returns the server's sentence
// saying what it released. Throws HttpError (404 if the lock is not live,
// 401 without a valid token, 503 from a server that is not its group's
// active) or ConnectionError.
std::string ForceRelease(const ServerAddress& address, std::string_view ns,
                         std::uint64_t id);

}  // namespace locktopus::client

#endif  // LOCKTOPUS_CLIENT_INCLUDE_LOCKTOPUS_ADDRESS_H_
