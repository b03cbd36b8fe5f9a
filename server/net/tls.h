// The TLS context of every connection, from --tls-cert and --tls-key.

#ifndef LOCKTOPUS_SERVER_NET_TLS_H_
#define LOCKTOPUS_SERVER_NET_TLS_H_

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "util/result.h"

namespace locktopus::server {

// A server context for TLS 1.2 or later with the PEM certificate chain
// `cert` and its private key `key`, checked against each other; or why it
// cannot be made (kInvalidArgument), naming the file.
Result<std::unique_ptr<boost::asio::ssl::context>> LoadTlsContext(
    const std::string& cert, const std::string& key);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_NET_TLS_H_
