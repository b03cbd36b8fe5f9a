// The compiled parts of Asio (its SSL layer included), Beast, JSON and URL, built once for the whole
// tree (BOOST_*_SEPARATE_COMPILATION): every other file includes only their
// declarations.

#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
