#include "bench/ping.h"

#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <functional>

namespace locktopus::bench {
namespace websocket = beast::websocket;
namespace {

// Pings sent before the measured ones: the first ones pay for cold caches
// and the socket's first buffers.
constexpr int kUnmeasured = 50;
constexpr auto kPatience = std::chrono::seconds(30);

}  // namespace

std::vector<std::int64_t> PingRoundTrips(const Target& target, int count,
                                         std::string& error) {
  std::vector<std::int64_t> ns;
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws(ioc);
  auto& stream = beast::get_lowest_layer(ws);
  beast::error_code ec;
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(target.endpoint, ec);
  if (!ec) stream.socket().set_option(tcp::no_delay(true), ec);
  if (!ec) ws.handshake(target.host, target.target, ec);
  if (ec) {
    error = "ping connection: " + ec.message();
    return ns;
  }
  stream.expires_never();

  int sent = 0;
  Clock::time_point sent_at;
  std::function<void()> ping = [&] {
    sent_at = Clock::now();
    ++sent;
    ws.async_ping({}, [&](beast::error_code ec) {
      if (ec) error = "ping: " + ec.message();
    });
  };
  // The next ping is posted, not sent from within the read that saw the
  // pong.
  ws.control_callback([&](websocket::frame_type kind, beast::string_view) {
    if (kind != websocket::frame_type::pong) return;
    if (sent > kUnmeasured) ns.push_back((Clock::now() - sent_at).count());
    if (sent < kUnmeasured + count) {
      net::post(ioc, ping);
    } else {
      net::post(ioc, [&] {
        ws.async_close(websocket::close_code::normal, [](beast::error_code) {});
      });
    }
  });
  // A read stays pending for the pongs to be seen; frames the server sends
  // (a session's first one) are dropped.
  beast::flat_buffer buffer;
  std::function<void()> read = [&] {
    ws.async_read(buffer, [&](beast::error_code ec, std::size_t) {
      if (ec) return;  // closed: by us once done, or else counted short
      buffer.consume(buffer.size());
      read();
    });
  };
  read();
  ping();
  ioc.run_for(kPatience);
  if (error.empty() && static_cast<int>(ns.size()) < count) {
    error = "ping: " + std::to_string(ns.size()) + " of " +
            std::to_string(count) + " pongs came back";
  }
  return ns;
}

}  // namespace locktopus::bench
