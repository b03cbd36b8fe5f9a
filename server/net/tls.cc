#include "server/net/tls.h"

#include <openssl/ssl.h>

namespace locktopus::server {

Result<std::unique_ptr<boost::asio::ssl::context>> LoadTlsContext(
    const std::string& cert, const std::string& key) {
  namespace ssl = boost::asio::ssl;
  auto bad = [](std::string message) {
    return Error{Error::Code::kInvalidArgument, std::move(message)};
  };
  auto tls = std::make_unique<ssl::context>(ssl::context::tls_server);
  if (SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION) !=
      1) {
    return bad("cannot require TLS 1.2 or later");
  }
  boost::system::error_code ec;
  tls->use_certificate_chain_file(cert, ec);
  if (ec) return bad("TLS certificate [" + cert + "]: " + ec.message());
  tls->use_private_key_file(key, ssl::context::pem, ec);
  if (ec) return bad("TLS key [" + key + "]: " + ec.message());
  if (SSL_CTX_check_private_key(tls->native_handle()) != 1) {
    return bad("TLS key [" + key + "] does not match the certificate [" + cert +
               "]");
  }
  return tls;
}

}  // namespace locktopus::server
