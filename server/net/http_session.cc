// One HTTP connection: Beast I/O around HandleRequest. The plain
// instantiation (http_session_impl.h); http_session_tls.cc has the TLS one.

#include "server/net/http_session.h"

#include "server/net/http_session_impl.h"

namespace locktopus::server {

void StartHttpSession(Socket socket, std::shared_ptr<ServerState> state,
                      net::ssl::context* tls) {
  if (tls != nullptr) {
    return http_session_internal::StartTlsSession(std::move(socket),
                                                  std::move(state), *tls);
  }
  std::make_shared<http_session_internal::HttpSession<Stream>>(
      Stream(std::move(socket)), std::move(state))
      ->Run();
}

}  // namespace locktopus::server
