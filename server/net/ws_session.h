// One WebSocket connection to /v1: Beast I/O around a Connection state
// machine (server/core/connection.h).

#ifndef LOCKTOPUS_SERVER_NET_WS_SESSION_H_
#define LOCKTOPUS_SERVER_NET_WS_SESSION_H_

#include <memory>

#include "server/core/routes.h"
#include "server/core/server_state.h"
#include "server/net/streams.h"

namespace locktopus::server {

// Completes the WebSocket handshake of `request` and runs the lock protocol.
void StartWebSocketSession(Stream stream, Request request, LockRoute route,
                           std::unique_ptr<ConnectionSlot> slot,
                           std::shared_ptr<ServerState> state);
void StartWebSocketSession(TlsStream stream, Request request, LockRoute route,
                           std::unique_ptr<ConnectionSlot> slot,
                           std::shared_ptr<ServerState> state);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_NET_WS_SESSION_H_
