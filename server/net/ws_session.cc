// One WebSocket connection: Beast I/O around a Connection state machine.
// The plain instantiation (ws_session_impl.h); ws_session_tls.cc has the
// TLS one.

#include "server/net/ws_session.h"

#include "server/net/ws_session_impl.h"

namespace locktopus::server {

void StartWebSocketSession(Stream stream, Request request, LockRoute route,
                           std::unique_ptr<ConnectionSlot> slot,
                           std::shared_ptr<ServerState> state) {
  ws_session_internal::StartSession(
      PlainSocket(std::move(stream).release_socket()), std::move(request),
      std::move(route), std::move(slot), std::move(state));
}

}  // namespace locktopus::server
