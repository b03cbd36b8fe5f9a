// The TLS instantiation of the WebSocket session (ws_session_impl.h).

#include <boost/beast/websocket/ssl.hpp>

#include "server/net/ws_session.h"
#include "server/net/ws_session_impl.h"

namespace locktopus::server {

void StartWebSocketSession(TlsStream stream, Request request, LockRoute route,
                           std::unique_ptr<ConnectionSlot> slot,
                           std::shared_ptr<ServerState> state) {
  ws_session_internal::StartSession(std::move(stream), std::move(request),
                                    std::move(route), std::move(slot),
                                    std::move(state));
}

}  // namespace locktopus::server
