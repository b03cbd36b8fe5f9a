// TLS for the client's connections (ServerAddress::tls): a context that
// verifies the server, the per-connection setup that makes OpenSSL check
// the host name, and plain words for a handshake that failed.
//
// Verification is OpenSSL's own (SSL_VERIFY_PEER with the host or IP set in
// the verify parameters) rather than an Asio callback, so that a refusal
// carries OpenSSL's reason ("hostname mismatch", "unable to get local
// issuer certificate") and reaches the user in the ConnectionError.
//
// Thread safety: a context is used by one connection at a time here (each
// connection makes its own); the functions are otherwise pure.

#ifndef LOCKTOPUS_CLIENT_TLS_H_
#define LOCKTOPUS_CLIENT_TLS_H_

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <string>

#include "locktopus/address.h"

namespace locktopus::client::detail {

// A client context: TLS 1.2 or later, the peer verified against
// address.ca_file, or the system's trust store when that is empty. Throws
// ConnectionError when the CA file cannot be loaded.
std::unique_ptr<boost::asio::ssl::context> MakeTlsContext(
    const ServerAddress& address);

// Before the handshake on `ssl`: the name the server's certificate must
// carry (`host`: a DNS name, or an IP address), and SNI for a DNS name.
// Throws ConnectionError if OpenSSL refuses the name.
void PrepareTls(SSL* ssl, const std::string& host);

// Why the handshake on `ssl` failed with `error`: the certificate
// verification's reason when that is what failed, else the error itself.
std::string DescribeTlsFailure(SSL* ssl, const boost::system::error_code& error,
                               const std::string& host);

}  // namespace locktopus::client::detail

#endif  // LOCKTOPUS_CLIENT_TLS_H_
