// The compiled parts of Asio, Beast, JSON and URL, built once for the whole
// tree (BOOST_*_SEPARATE_COMPILATION): every other file includes only their
// declarations. Asio's SSL layer is compiled apart (boost_ssl_impl.cc), so
// that the programs without TLS (the load generator, most tests) do not
// link OpenSSL.

#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
