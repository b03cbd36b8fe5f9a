#include "client/tls.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>

#include "locktopus/errors.h"

namespace locktopus::client::detail {
namespace ssl = boost::asio::ssl;

std::unique_ptr<ssl::context> MakeTlsContext(const ServerAddress& address) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  // The server refuses anything older too (docs/operations.md, Built-in
  // TLS).
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  boost::system::error_code error;
  if (address.ca_file.empty()) {
    context->set_default_verify_paths(error);
    if (error) {
      throw ConnectionError("TLS: cannot use the system's trust store: " +
                            error.message());
    }
  } else {
    context->load_verify_file(address.ca_file, error);
    if (error) {
      throw ConnectionError("TLS: cannot load the CA file [" + address.ca_file +
                            "]: " + error.message());
    }
  }
  context->set_verify_mode(ssl::verify_peer);
  return context;
}

void PrepareTls(SSL* ssl, const std::string& host) {
  boost::system::error_code not_an_address;
  boost::asio::ip::make_address(host, not_an_address);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  // Partial wildcards ("w*.example") are not a name anyone means.
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  bool named = false;
  if (not_an_address) {
    // SNI takes host names only (RFC 6066), never an address.
    named =
        X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) == 1 &&
        SSL_set_tlsext_host_name(ssl, host.c_str()) == 1;
  } else {
    named = X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  }
  if (!named) {
    throw ConnectionError("TLS: cannot check the server's certificate for [" +
                          host + "]");
  }
}

std::string DescribeTlsFailure(SSL* ssl, const boost::system::error_code& error,
                               const std::string& host) {
  const long verified = SSL_get_verify_result(ssl);
  if (verified == X509_V_ERR_HOSTNAME_MISMATCH ||
      verified == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    return "TLS: the server's certificate does not name " + host + " (" +
           X509_verify_cert_error_string(verified) + ")";
  }
  if (verified != X509_V_OK) {
    return std::string("TLS: the server's certificate is not trusted (") +
           X509_verify_cert_error_string(verified) +
           "); for a private CA, give its certificate as the CA file";
  }
  return "TLS handshake failed: " + error.message() +
         " (does the server speak TLS, i.e. was it run with --tls-cert?)";
}

}  // namespace locktopus::client::detail
