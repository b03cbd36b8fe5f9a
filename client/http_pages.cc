// FetchStats and FetchStatus: one synchronous HTTP GET each.

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "locktopus/address.h"
#include "locktopus/errors.h"

namespace locktopus::client {
namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::string Get(const ServerAddress& address, const std::string& target) {
  const std::string where = address.host + ":" + std::to_string(address.port);
  try {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(address.connect_timeout);
    stream.connect(
        resolver.resolve(address.host, std::to_string(address.port)));
    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, where);
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    if (response.result() != http::status::ok) {
      throw HttpError(static_cast<int>(response.result_int()), response.body());
    }
    return response.body();
  } catch (const boost::system::system_error& e) {
    throw ConnectionError("cannot GET " + target + " from " + where + ": " +
                          e.code().message());
  }
}

}  // namespace

std::string FetchStats(const ServerAddress& address, std::string_view ns) {
  return Get(address,
             "/stats_v1?namespace=" +
                 boost::urls::encode(ns, boost::urls::unreserved_chars));
}

std::string FetchStatus(const ServerAddress& address) {
  return Get(address, "/");
}

}  // namespace locktopus::client
