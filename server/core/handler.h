// Answers one HTTP request (docs/protocol.md's endpoints), free of sockets: the
// HTTP session reads a request, asks HandleRequest what to do, and either
// writes the response or hands the connection to the lock protocol. The
// shape of Beast's `handle_request`: the session moves bytes, a plain
// function answers.
//
// Thread safety: HandleRequest may run on any thread, concurrently.

#ifndef LOCKTOPUS_SERVER_CORE_HANDLER_H_
#define LOCKTOPUS_SERVER_CORE_HANDLER_H_

#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "server/core/routes.h"
#include "server/core/server_state.h"

namespace locktopus::server {

// What the handler needs of a request.
struct HttpRequest {
  enum class Method { kGet, kHead, kOptions, kDelete, kOther };
  Method method = Method::kGet;
  std::string_view target;         // origin form: path and query
  std::string_view authorization;  // the header; empty if absent
  bool websocket_upgrade = false;
  // The client's address:port, for the log of a force release; may be
  // empty for the other methods (the transport need not look it up).
  std::string_view peer;
};

struct HttpResponse {
  unsigned status = 200;
  std::string_view content_type = "text/plain";
  std::string body;
  std::string_view www_authenticate;  // the header's value; empty: none
  std::string_view cache_control;     // the header's value; empty: none
  bool operator==(const HttpResponse&) const = default;
};

// Go ahead with the WebSocket handshake of /v1: the route's namespace and
// abandon timeout, and the connection's place under --max-connections.
struct Upgrade {
  LockRoute route;
  std::unique_ptr<ConnectionSlot> slot;
};

// A standby's replication stream, to hand to ServerState::replication.
struct ReplicaUpgrade {
  ReplicateRoute route;
};

using Handled = std::variant<HttpResponse, Upgrade, ReplicaUpgrade>;

// The answer to `request`: with --auth-token-file, 401 unless it carries a
// listed token (but for /healthz, /readyz and CORS preflights); an upgrade
// to /v1 unless the server drains, is not its group's active (standby,
// fenced: ha/role.h), or is full (503 each); a force release for DELETE
// /locks_v1 (force_release.h) unless the server is not its group's active
// (503), logged as a warning and counted; else the page, statistics,
// metrics or probe the route names, or the route's error. /replicate_v1
// takes the group's peer token, never a client's (404 without
// replication, 401 without the peer token, 503 unless active).
Handled HandleRequest(const HttpRequest& request,
                      const std::shared_ptr<ServerState>& state);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_HANDLER_H_
