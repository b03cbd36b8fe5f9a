// The Fetch* functions of address.h, one HTTP GET each, and ForceRelease,
// one DELETE: over TLS when the address says so, with the bearer token if
// there is one. The whole exchange is bounded by connect_timeout.

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "client/tls.h"
#include "locktopus/address.h"
#include "locktopus/errors.h"

namespace locktopus::client {
namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// A listing of 1000 locks with long paths is large, but not this large.
constexpr std::uint64_t kMaxBodyBytes = std::uint64_t{64} << 20;

// Starts an operation with `start(handler)` and runs `ioc` until it ends;
// throws its error. Asynchronous, so that the stream's deadline applies.
template <class Start>
void Await(net::io_context& ioc, Start start) {
  beast::error_code error;
  start([&error](beast::error_code ec, auto&&...) { error = ec; });
  ioc.restart();
  ioc.run();
  if (error) throw boost::system::system_error(error);
}

std::string Encode(std::string_view value) {
  // As in LockTarget: '+' must travel as %2B, or the server reads a space.
  return boost::urls::encode(value, boost::urls::unreserved_chars);
}

// One request of `verb` for `target`; the body of a 200 answer.
std::string Ask(const ServerAddress& address, http::verb verb,
                const std::string& target) {
  const std::string where = address.host + ":" + std::to_string(address.port);
  std::string tls_failure;  // set when the TLS handshake failed
  try {
    net::io_context ioc;
    std::unique_ptr<net::ssl::context> context;
    if (address.tls) context = detail::MakeTlsContext(address);
    // Plain or TLS, the same steps.
    const auto exchange = [&](auto& stream) {
      beast::tcp_stream& tcp = beast::get_lowest_layer(stream);
      tcp.expires_after(address.connect_timeout);
      tcp::resolver resolver(ioc);
      const auto endpoints =
          resolver.resolve(address.host, std::to_string(address.port));
      Await(ioc, [&](auto handler) { tcp.async_connect(endpoints, handler); });
      if constexpr (!std::is_same_v<std::decay_t<decltype(stream)>,
                                    beast::tcp_stream>) {
        SSL* ssl = stream.native_handle();
        detail::PrepareTls(ssl, address.host);
        try {
          Await(ioc, [&](auto handler) {
            stream.async_handshake(net::ssl::stream_base::client, handler);
          });
        } catch (const boost::system::system_error& e) {
          tls_failure = detail::DescribeTlsFailure(ssl, e.code(), address.host);
          throw;
        }
      }
      http::request<http::empty_body> request{verb, target, 11};
      request.set(http::field::host, where);
      if (!address.token.empty()) {
        request.set(http::field::authorization, "Bearer " + address.token);
      }
      Await(ioc,
            [&](auto handler) { http::async_write(stream, request, handler); });
      beast::flat_buffer buffer;
      http::response_parser<http::string_body> parser;
      parser.body_limit(kMaxBodyBytes);
      Await(ioc, [&](auto handler) {
        http::async_read(stream, buffer, parser, handler);
      });
      return parser.release();
    };
    http::response<http::string_body> response;
    if (context) {
      beast::ssl_stream<beast::tcp_stream> stream(ioc, *context);
      response = exchange(stream);
    } else {
      beast::tcp_stream stream(ioc);
      response = exchange(stream);
    }
    if (response.result() != http::status::ok) {
      throw HttpError(static_cast<int>(response.result_int()), response.body());
    }
    return response.body();
  } catch (const boost::system::system_error& e) {
    std::string why = tls_failure.empty() ? e.code().message() : tls_failure;
    if (!address.tls && (e.code() == http::error::end_of_stream ||
                         e.code() == net::error::connection_reset ||
                         e.code() == net::error::eof)) {
      why += " (a server run with --tls-cert answers only TLS: use https://)";
    }
    throw ConnectionError("cannot " + std::string(http::to_string(verb)) + " " +
                          target + " from " + where + ": " + why);
  }
}

std::string Get(const ServerAddress& address, const std::string& target) {
  return Ask(address, http::verb::get, target);
}

}  // namespace

std::string FetchStats(const ServerAddress& address, std::string_view ns) {
  return Get(address, "/stats_v1?namespace=" + Encode(ns));
}

std::string FetchStatus(const ServerAddress& address) {
  return Get(address, "/");
}

std::string FetchReadiness(const ServerAddress& address) {
  return Get(address, "/readyz");
}

std::string FetchMetrics(const ServerAddress& address) {
  return Get(address, "/metrics");
}

std::string FetchNamespaces(const ServerAddress& address,
                            std::string_view filter,
                            std::optional<unsigned> limit) {
  std::string target = "/namespaces_v1";
  char separator = '?';
  if (!filter.empty()) {
    target += "?filter=" + Encode(filter);
    separator = '&';
  }
  if (limit) target += separator + ("limit=" + std::to_string(*limit));
  return Get(address, target);
}

std::string ForceRelease(const ServerAddress& address, std::string_view ns,
                         std::uint64_t id) {
  return Ask(address, http::verb::delete_,
             "/locks_v1?namespace=" + Encode(ns) + "&id=" + std::to_string(id));
}

std::string FetchLocks(const ServerAddress& address, std::string_view ns,
                       const LocksQuery& query) {
  std::string target = "/locks_v1?namespace=" + Encode(ns);
  if (query.path) target += "&path=" + Encode(FormatPath(*query.path));
  if (query.limit) target += "&limit=" + std::to_string(*query.limit);
  if (query.blockers) target += "&blockers=" + std::to_string(*query.blockers);
  return Get(address, target);
}

}  // namespace locktopus::client
