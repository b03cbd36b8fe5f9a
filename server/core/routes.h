// Routes an HTTP request target (docs/protocol.md's endpoints) and validates
// its query parameters. No I/O; the server and the fuzzers call it.
//
// Thread safety: pure function.

#ifndef LOCKTOPUS_SERVER_CORE_ROUTES_H_
#define LOCKTOPUS_SERVER_CORE_ROUTES_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace locktopus::server {

struct RouteLimits {
  std::size_t max_namespace_bytes = 256;
  std::uint64_t max_abandon_timeout_ms = 86'400'000;
};

// The longest `client` parameter of /v1, in bytes.
inline constexpr std::size_t kMaxClientNameBytes = 128;
// Unknown query parameters of one /v1 request kept for the log, and the
// bytes kept of each name.
inline constexpr std::size_t kMaxUnknownParams = 8;
inline constexpr std::size_t kMaxUnknownParamBytes = 64;

// GET /v1?namespace=NS[&abandon-timeout-ms=N][&client=NAME]: the lock
// protocol. NAME is UTF-8 without control characters, at most
// kMaxClientNameBytes bytes: the client's own name for itself, shown by the
// inspector and in logs.
struct LockRoute {
  std::string ns;
  std::optional<std::uint64_t> abandon_timeout_ms;  // absent: server default
  std::string client_name;                          // "" when not given
  // `session`: "new" (open a resumable session), or the token of the
  // session to resume (checked by the session table, session.h); absent:
  // a plain connection.
  std::optional<std::string> session = std::nullopt;
  // Query parameters the server does not know, by name: ignored, so that
  // clients may send more, but counted and logged (a typo must not fall
  // back to a default silently).
  std::vector<std::string> unknown = {};
  bool operator==(const LockRoute&) const = default;
};

// GET /locks_v1?namespace=NS[&path=P][&limit=N][&blockers=M]: the lock
// inspector (server/core/inspect.h). P is a path as locktopusctl writes it
// (segments separated by '/', "%2F" and "%25" inside a segment, "/" alone
// for the whole namespace); N is 1 to 1000 (default 100), M 0 to 100
// (default 10).
inline constexpr std::size_t kMaxLocksLimit = 1000;
inline constexpr std::size_t kMaxBlockersLimit = 100;
struct LocksRoute {
  std::string ns;
  std::vector<std::string> path;  // empty: every lock
  std::size_t limit = 100;
  std::size_t blockers = 10;
  bool operator==(const LocksRoute&) const = default;
};

// DELETE /locks_v1?namespace=NS&id=ID: an operator's force release of the
// live lock ID (server/core/force_release.h). ID is a lock ID, 1 or more.
struct ReleaseRoute {
  std::string ns;
  std::uint64_t id = 0;
  bool operator==(const ReleaseRoute&) const = default;
};

// GET /stats_v1?namespace=NS (alias /stats).
struct StatsRoute {
  std::string ns;
  bool operator==(const StatsRoute&) const = default;
};

// GET /[?filter=S][&namespace=NS]: the dashboard. Both parameters are
// optional and never refused (a name no namespace has simply matches
// nothing); empty means absent.
struct StatusRoute {
  std::string filter;  // list only the namespaces whose name contains it
  std::string ns;      // show this namespace's locks
  bool operator==(const StatusRoute&) const = default;
};

// Namespaces a /namespaces_v1 answer lists: by default, and at most.
inline constexpr std::size_t kDefaultNamespacesLimit = 20;
inline constexpr std::size_t kMaxNamespacesLimit = 1000;

// GET /namespaces_v1[?filter=S][&limit=N]: the busiest open namespaces
// whose name contains `filter`, as JSON.
struct NamespacesRoute {
  std::string filter;
  std::size_t limit = kDefaultNamespacesLimit;
  bool operator==(const NamespacesRoute&) const = default;
};

// GET /dashboard.css, /dashboard.js: the dashboard's static assets (the
// query, a version for caches, is ignored).
struct AssetRoute {
  std::string path;
  bool operator==(const AssetRoute&) const = default;
};

// GET /metrics: Prometheus text exposition.
struct MetricsRoute {
  bool operator==(const MetricsRoute&) const = default;
};

// GET /healthz: 200 while the server serves HTTP, draining included.
struct HealthRoute {
  bool operator==(const HealthRoute&) const = default;
};

// GET /readyz: 200 while the server takes new clients ("serving", or
// "grace: N s left" after a takeover), 503 while draining ("draining") or
// while its role takes none (the role's name).
struct ReadyRoute {
  bool operator==(const ReadyRoute&) const = default;
};

// GET /replicate_v1?member=NAME&revision=R&epoch=E&from=P: a standby's
// replication stream (ha/stream.h), between the servers of a group only.
// NAME is the standby's candidacy name (at most kMaxMemberBytes printable
// ASCII), R its candidacy's revision, E the epoch it followed last, P the
// first position of that epoch it lacks (0: a snapshot).
inline constexpr std::size_t kMaxMemberBytes = 256;
struct ReplicateRoute {
  std::string member;
  std::int64_t revision = 0;
  std::int64_t epoch = 0;
  std::uint64_t from = 0;
  bool operator==(const ReplicateRoute&) const = default;
};

// Anything refused before it reaches a handler.
struct HttpError {
  unsigned status = 400;
  std::string body;
  bool operator==(const HttpError&) const = default;
};

using Route =
    std::variant<LockRoute, StatsRoute, LocksRoute, StatusRoute, MetricsRoute,
                 HealthRoute, ReadyRoute, NamespacesRoute, AssetRoute,
                 ReleaseRoute, ReplicateRoute, HttpError>;

// What the request asks of its target: to read it (GET, HEAD and every
// other method) or to delete it (DELETE).
enum class RouteVerb { kRead, kDelete };

// Routes `target` (origin form: path and query), parsing it once. Query
// values are URL-decoded; the query of /metrics, /healthz, /readyz and the
// assets is ignored, and so are unknown parameters. When `token` is given,
// it receives the decoded value of the first `token` parameter (bearer
// authentication), if any. With kDelete, /locks_v1 routes to a
// ReleaseRoute (or its 400); any other target routes as with kRead, but
// its refusal is 405 `Method not allowed`, since no other path takes
// DELETE. Never throws.
Route RouteTarget(std::string_view target, const RouteLimits& limits,
                  std::optional<std::string>* token = nullptr,
                  RouteVerb verb = RouteVerb::kRead);

// Whether the route is served without a token under --auth-token-file: the
// probes /healthz and /readyz, which tell only whether the server serves,
// and the dashboard's static assets, which hold no data (a browser cannot
// send a header with <script src>).
bool IsOpen(const Route& route);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_ROUTES_H_
