// The compiled part of Asio's SSL layer (over OpenSSL), built once, for the
// server's --tls-cert/--tls-key and the client's wss:// and https://.

#include <boost/asio/ssl/impl/src.hpp>
