// One HTTP connection: reads requests, has server/core/handler.h answer
// them, writes the responses, and on an upgrade to /v1 hands the stream to a
// WebSocket session (ws_session.h).

#ifndef LOCKTOPUS_SERVER_NET_HTTP_SESSION_H_
#define LOCKTOPUS_SERVER_NET_HTTP_SESSION_H_

#include <memory>

#include "server/core/server_state.h"
#include "server/net/streams.h"

namespace locktopus::server {

// Serves HTTP requests on an accepted socket until it closes or upgrades;
// with `tls` (else null), after a TLS handshake bounded by
// --handshake-timeout-ms. `tls` must outlive every session.
void StartHttpSession(Socket socket, std::shared_ptr<ServerState> state,
                      net::ssl::context* tls);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_NET_HTTP_SESSION_H_
