// The loopback round trip (bench/ping.h), against a WebSocket server on a
// thread of the test that answers pings as the server's read loop does.

#include "bench/ping.h"

#include <gtest/gtest.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <functional>
#include <thread>

namespace locktopus::bench {
namespace {

namespace websocket = beast::websocket;

// Accepts one WebSocket connection on 127.0.0.1 and reads from it until
// it closes; Beast answers each ping with a pong meanwhile.
class PongServer {
 public:
  PongServer() : acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] {
      beast::error_code ec;
      tcp::socket socket = acceptor_.accept(ec);
      if (ec) return;
      websocket::stream<tcp::socket> ws(std::move(socket));
      ws.accept(ec);
      beast::flat_buffer buffer;
      while (!ec) ws.read(buffer, ec);
    });
  }
  // A connection of its own ends a wait in accept, if the test made none.
  ~PongServer() {
    beast::error_code ignored;
    tcp::socket socket(ioc_);
    socket.connect(acceptor_.local_endpoint(), ignored);
    socket.close(ignored);
    thread_.join();
  }
  Target target() const {
    return {.endpoint = acceptor_.local_endpoint(),
            .host = "127.0.0.1",
            .target = "/v1"};
  }

 private:
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

TEST(Ping, TimesEachRoundTrip) {
  PongServer server;
  std::string error;
  const std::vector<std::int64_t> ns =
      PingRoundTrips(server.target(), 100, error);
  EXPECT_EQ(error, "");
  ASSERT_EQ(ns.size(), 100u);
  for (std::int64_t n : ns) EXPECT_GT(n, 0);
}

TEST(Ping, SaysWhyWhenNoServerAnswers) {
  Target target;
  {
    PongServer closed;  // its port, free again once it is gone
    target = closed.target();
  }
  std::string error;
  EXPECT_TRUE(PingRoundTrips(target, 10, error).empty());
  EXPECT_NE(error.find("ping connection: "), std::string::npos) << error;
}

}  // namespace
}  // namespace locktopus::bench
