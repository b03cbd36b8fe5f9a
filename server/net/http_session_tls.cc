// The TLS instantiation of the HTTP session (http_session_impl.h).

#include "server/net/http_session_impl.h"

namespace locktopus::server::http_session_internal {

void StartTlsSession(Socket socket, std::shared_ptr<ServerState> state,
                     net::ssl::context& tls) {
  std::make_shared<HttpSession<TlsStream>>(TlsStream(std::move(socket), tls),
                                           std::move(state))
      ->Run();
}

}  // namespace locktopus::server::http_session_internal
