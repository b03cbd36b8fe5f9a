// The compiled part of Asio's SSL layer (over OpenSSL), built once, for the
// server's --tls-cert/--tls-key.

#include <boost/asio/ssl/impl/src.hpp>
