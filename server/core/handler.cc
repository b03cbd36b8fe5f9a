#include "server/core/handler.h"

#include "server/core/dashboard.h"
#include "server/core/force_release.h"
#include "server/core/inspect.h"
#include "server/core/log.h"
#include "server/core/pages.h"
#include "wire/codec.h"
#include "wire/pages.h"

namespace locktopus::server {
namespace {

HttpResponse Text(unsigned status, std::string body) {
  return {.status = status, .body = std::move(body)};
}

// The namespace of a route that names one, else null.
const std::string* NamespaceOf(const Route& route) {
  if (const auto* lock = std::get_if<LockRoute>(&route)) return &lock->ns;
  if (const auto* stats = std::get_if<StatsRoute>(&route)) return &stats->ns;
  if (const auto* locks = std::get_if<LocksRoute>(&route)) return &locks->ns;
  if (const auto* release = std::get_if<ReleaseRoute>(&route)) {
    return &release->ns;
  }
  return nullptr;
}

// 503 unless the server is its group's active, which alone takes clients
// and changes lock state (ha/role.h).
std::optional<HttpResponse> NotActive(const ServerState& state) {
  const ha::Role role = state.role.load();
  if (ha::TakesClients(role)) return std::nullopt;
  return Text(503, "Not the active server of its group (" +
                       std::string(ha::Name(role)) + ")");
}

// A standby's stream: only with replication on, only with the peer token
// (a client's token opens no stream: it would read sessions' secrets), only
// to the active.
Handled ReplicateAnswer(const ReplicateRoute& route, const HttpRequest& request,
                        const ServerState& state) {
  if (!state.config.replicates() || state.replication == nullptr) {
    return Text(404, "Not found: replication is off (--ha-peer-token-file)");
  }
  const std::optional<std::string> token =
      RequestToken(request.authorization, std::nullopt);
  if (!token || state.peer_token.empty() ||
      !EqualConstantTime(*token, state.peer_token)) {
    HttpResponse response =
        Text(401, "Unauthorized: the peer token is required");
    response.www_authenticate = "Bearer";
    return response;
  }
  if (!request.websocket_upgrade) {
    return Text(426, "WebSocket upgrade required");
  }
  // Past any grace only: an active in its grace adds no standby to the
  // in-sync set (net/replication.h).
  if (state.role.load() != ha::Role::kServing) {
    return Text(503, "Not taking standbys (" +
                         std::string(ha::Name(state.role.load())) + ")");
  }
  return ReplicaUpgrade{route};
}

// The refusal of a session's upgrade, if any: a resume from an address
// that failed too often lately (429; the session is not lost, the client
// retries), a new session past --max-sessions (503).
std::optional<HttpResponse> SessionRefusal(const LockRoute& route,
                                           std::string_view peer,
                                           ServerState& state) {
  if (!route.session) return std::nullopt;
  SessionTable& sessions = *state.client_sessions;
  if (*route.session == kNewSession) {
    if (sessions.live() < sessions.limit()) return std::nullopt;
    return Text(503, "Too many sessions: " +
                         wire::OverLimit("max-sessions", sessions.limit()));
  }
  std::chrono::milliseconds retry_after{0};
  if (!sessions.Limited(PeerAddress(peer), &retry_after)) return std::nullopt;
  return Text(429,
              "Too many failed session resumes from this address; try "
              "again in " +
                  std::to_string(retry_after.count()) +
                  " ms (the session itself is not lost by this)");
}

// DELETE /locks_v1: ends the lock, logs who asked, counts it.
HttpResponse ForceReleaseAnswer(const ReleaseRoute& route,
                                std::string_view peer, ServerState& state) {
  if (auto refused = NotActive(state)) return *refused;
  const std::string lock =
      "lock " + std::to_string(route.id) + " of namespace [" + route.ns + "]";
  const std::optional<ForcedRelease> released =
      ForceRelease(*state.locks, route.ns, route.id);
  if (!released) {
    return Text(404, "Lock not found: no live " + lock);
  }
  Increment(state.metrics.locks_force_released);
  std::string was = released->state == LockState::kEnqueued ? "enqueued"
                    : released->abandoned ? "abandoned by its connection"
                                          : "acquired";
  if (released->detached) was += ", its session detached";
  std::string holder;
  if (const HolderInfo* info = released->holder.get()) {
    holder = ", held by " + LogName(*info) + " from " + info->peer;
  }
  LogWarning(lock + " released by an operator from " +
             (peer.empty() ? std::string("?") : std::string(peer)) +
             ": it was " + was + holder);
  return Text(200, "Released " + lock + ": it was " + was);
}

// 421 Misdirected Request for a namespace of another group (shard.h).
std::optional<HttpResponse> Misdirected(const ShardMap& shard,
                                        const std::string& ns) {
  const std::size_t owner = shard.Owner(ns);
  if (owner == shard.self()) return std::nullopt;
  const auto& groups = shard.groups();
  return Text(
      421, "Misdirected Request: namespace [" + ns + "] belongs to group [" +
               groups[owner] + "] (" + std::to_string(owner) + " of " +
               std::to_string(groups.size()) + "); this server serves group [" +
               groups[shard.self()] + "]");
}

}  // namespace

Handled HandleRequest(const HttpRequest& request,
                      const std::shared_ptr<ServerState>& state) {
  using Method = HttpRequest::Method;
  // CORS preflights are answered whatever the route, token or not.
  if (request.method == Method::kOptions) return Text(204, "");

  std::optional<std::string> token;
  const Route route =
      RouteTarget(request.target, state->config.route_limits, &token,
                  request.method == Method::kDelete ? RouteVerb::kDelete
                                                    : RouteVerb::kRead);
  if (const auto* replicate = std::get_if<ReplicateRoute>(&route)) {
    return ReplicateAnswer(*replicate, request, *state);
  }
  if (state->auth != nullptr && !IsOpen(route) &&
      !state->auth->Allows(request.authorization, token)) {
    HttpResponse response =
        Text(401,
             "Unauthorized: a valid token is required (Authorization: Bearer "
             "TOKEN, or ?token=TOKEN)");
    response.www_authenticate = "Bearer";
    return response;
  }

  if (const std::string* ns = NamespaceOf(route)) {
    if (auto misdirected = Misdirected(state->shard, *ns)) return *misdirected;
  }

  if (const auto* lock = std::get_if<LockRoute>(&route);
      lock != nullptr && request.websocket_upgrade) {
    if (state->draining.load()) return Text(503, "Shutting down");
    if (auto refused = NotActive(*state)) return *refused;
    if (auto refused = SessionRefusal(*lock, request.peer, *state)) {
      return *refused;
    }
    if (!lock->unknown.empty()) {
      Increment(state->metrics.unknown_query_parameters);
      for (const std::string& name : lock->unknown) {
        if (state->unknown_params.First(name)) {
          LogWarning("a lock connection named the unknown URL parameter '" +
                     name +
                     "' (ignored; the known ones: namespace, "
                     "abandon-timeout-ms, client, token, session)");
        }
      }
    }
    std::unique_ptr<ConnectionSlot> slot = ConnectionSlot::Take(state);
    if (slot == nullptr) {
      return Text(503, "Too many connections: " +
                           wire::OverLimit("max-connections",
                                           state->config.max_connections));
    }
    return Upgrade{*lock, std::move(slot)};
  }

  if (const auto* release = std::get_if<ReleaseRoute>(&route)) {
    return ForceReleaseAnswer(*release, request.peer, *state);
  }
  if (request.method == Method::kDelete) {
    // DELETE /locks_v1's refusal, or the 405 of every other target.
    if (const auto* error = std::get_if<HttpError>(&route)) {
      return Text(error->status, error->body);
    }
  }
  if (request.method != Method::kGet && request.method != Method::kHead) {
    return Text(405, "Method not allowed");
  }
  if (const auto* error = std::get_if<HttpError>(&route)) {
    return Text(error->status, error->body);
  }
  if (std::holds_alternative<LockRoute>(route)) {
    return Text(426, "WebSocket upgrade required");
  }
  if (const auto* stats = std::get_if<StatsRoute>(&route)) {
    const std::optional<NamespaceSummary> found = state->locks->Find(stats->ns);
    if (!found) return Text(404, "Namespace not found");
    return HttpResponse{
        .content_type = "application/json",
        .body = wire::FormatStatsPage(
            {.stats = found->stats, .memory_bytes = found->memory_bytes})};
  }
  if (const auto* locks = std::get_if<LocksRoute>(&route)) {
    const std::optional<wire::LocksPage> page =
        InspectLocks(*state->locks, locks->ns,
                     {.path = locks->path,
                      .limit = locks->limit,
                      .max_blockers = locks->blockers});
    if (!page) return Text(404, "Namespace not found");
    return HttpResponse{.content_type = "application/json",
                        .body = wire::FormatLocksPage(*page)};
  }
  if (std::holds_alternative<MetricsRoute>(route)) {
    return HttpResponse{.content_type = kPrometheusContentType,
                        .body = MetricsText(*state)};
  }
  if (std::holds_alternative<HealthRoute>(route)) return Text(200, "ok");
  if (std::holds_alternative<ReadyRoute>(route)) {
    if (state->draining.load()) return Text(503, "draining");
    const ha::Role role = state->role.load();
    return ha::TakesClients(role)
               ? Text(200, ServingText(*state, ha::Clock::now()))
               : Text(503, std::string(ha::Name(role)));
  }
  if (const auto* list = std::get_if<NamespacesRoute>(&route)) {
    return HttpResponse{
        .content_type = "application/json",
        .body = wire::FormatNamespacesPage(ToNamespacesPage(
            BusiestMatching(*state->locks, list->filter, list->limit))),
        .cache_control = "no-store"};
  }
  if (const auto* asset_route = std::get_if<AssetRoute>(&route)) {
    const std::optional<Asset> asset = FindAsset(asset_route->path);
    if (!asset) return Text(404, "Not found");
    // The page names each asset with its version (?v=), so a copy never
    // goes stale under a URL the page uses.
    return HttpResponse{.content_type = asset->content_type,
                        .body = std::string(asset->body),
                        .cache_control = "public, max-age=86400"};
  }
  const auto& status = std::get<StatusRoute>(route);
  // The token goes on with the page's links only if it came in the URL.
  return HttpResponse{
      .content_type = "text/html; charset=utf-8",
      .body =
          DashboardPage(*state, {.filter = status.filter,
                                 .ns = status.ns,
                                 .token = state->auth ? token : std::nullopt}),
      .cache_control = "no-store"};
}

}  // namespace locktopus::server
