// The C++ client library (client/include/locktopus/) against the real
// server binary: every call of the API, the errors it reports, and a
// release crossing an acquisition notice on the wire.

#include "locktopus/client.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <thread>

#include "tests/e2e/server_process.h"

namespace locktopus {
namespace {
using namespace locktopus::client;  // the API under test
using e2e::ServerProcess;
using std::chrono::milliseconds;
using std::chrono::seconds;

ServerAddress At(const ServerProcess& server, std::string ns) {
  ServerAddress address;
  address.host = server.host();
  address.port = server.port();
  address.ns = std::move(ns);
  return address;
}

// Waits until the namespace's statistics contain `text`.
void AwaitStats(const ServerProcess& server, const std::string& ns,
                const std::string& text) {
  ASSERT_TRUE(e2e::WaitForHttp(server, "/stats_v1?namespace=" + ns, text,
                               seconds(20)))
      << e2e::HttpGet(server, "/stats_v1?namespace=" + ns).body;
}

TEST(ClientAddressTest, ParsesUrls) {
  ServerAddress a = ParseUrl(
      "ws://lock.example:9010/v1?namespace=a%20b&abandon-timeout-ms=5");
  EXPECT_EQ(a.host, "lock.example");
  EXPECT_EQ(a.port, 9010);
  EXPECT_EQ(a.ns, "a b");
  EXPECT_EQ(a.abandon_timeout_ms, 5u);
  a = ParseUrl("http://127.0.0.1");
  EXPECT_EQ(a.port, 80);
  EXPECT_EQ(a.ns, "");
  EXPECT_FALSE(a.abandon_timeout_ms);
  EXPECT_THROW(ParseUrl("wss://x/v1"), std::invalid_argument);
  EXPECT_THROW(ParseUrl("not a url"), std::invalid_argument);
  EXPECT_THROW(ParseUrl("ws://x:99999"), std::invalid_argument);
  EXPECT_THROW(ParseUrl("ws://x/v2"), std::invalid_argument);
  EXPECT_THROW(ParseUrl("ws://x/v1?namespace=a&abandon-timeout-ms=-1"),
               std::invalid_argument);
}

TEST(ClientAddressTest, EncodesTheTarget) {
  ServerAddress a;
  a.ns = "a+b c&d";
  EXPECT_EQ(LockTarget(a), "/v1?namespace=a%2Bb%20c%26d");
  a.abandon_timeout_ms = 0;
  EXPECT_EQ(LockTarget(a), "/v1?namespace=a%2Bb%20c%26d&abandon-timeout-ms=0");
}

TEST(ClientAddressTest, ParsesPaths) {
  using P = std::vector<std::string>;
  EXPECT_EQ(ParsePath("/"), P{});
  EXPECT_EQ(ParsePath("a"), P{"a"});
  EXPECT_EQ(ParsePath("jobs/nightly"), (P{"jobs", "nightly"}));
  EXPECT_EQ(ParsePath("a%2Fb/c%25d"), (P{"a/b", "c%d"}));
  EXPECT_EQ(ParsePath("a//b/"), (P{"a", "", "b", ""}));
  EXPECT_EQ(ParsePath("/a"), (P{"", "a"}));
  EXPECT_EQ(ParsePath("a+b c"), (P{"a+b c"}));
  EXPECT_THROW(ParsePath(""), std::invalid_argument);
  EXPECT_THROW(ParsePath("a%zz"), std::invalid_argument);
  EXPECT_THROW(ParsePath("a%2"), std::invalid_argument);
}

TEST(ClientTest, AcquiredAtOnceOrEnqueuedThenWait) {
  ServerProcess server;
  const std::string ns = e2e::UniqueNs();
  Client a(At(server, ns));
  Client b(server.host(), server.port(), ns);
  Lock first = a.lock({Write({"users", "42"})});
  EXPECT_TRUE(first.acquired_at_once());
  EXPECT_EQ(first.state(), Lock::State::kAcquired);
  EXPECT_EQ(first.fencing_token(), 1u);

  Lock second = b.lock({Read({"users"}), Write({"config"})});
  EXPECT_FALSE(second.acquired_at_once());
  EXPECT_EQ(second.state(), Lock::State::kEnqueued);
  EXPECT_EQ(second.fencing_token(), 2u);

  first.release();
  EXPECT_EQ(first.state(), Lock::State::kReleased);
  second.wait();
  EXPECT_TRUE(second.acquired());
  second.wait();  // at once when acquired
  second.release();
  second.release();  // no-op

  Lock third = a.lock({Write({})});  // the whole namespace
  EXPECT_TRUE(third.acquired_at_once());
  EXPECT_EQ(third.fencing_token(), 3u);
}

TEST(ClientTest, ConnectsByUrl) {
  ServerProcess server;
  const std::string ns = e2e::UniqueNs("by");
  Client client("ws://" + server.host() + ":" + std::to_string(server.port()) +
                "/v1?namespace=" + ns + "%2Burl&abandon-timeout-ms=0");
  Lock lock = client.lock({Write({"x"})});
  EXPECT_TRUE(lock.acquired_at_once());
  // The namespace travelled as "by...+url", not "by... url".
  EXPECT_NE(
      FetchStats(At(server, ns), ns + "+url").find("\"GroupsAcquired\":1"),
      std::string::npos);
}

TEST(ClientTest, WaitForTimesOutAndCancels) {
  ServerProcess server;
  const std::string ns = e2e::UniqueNs();
  Client a(At(server, ns)), b(At(server, ns));
  Lock held = a.lock({Write({"a"})});
  Lock waiting = b.lock({Write({"a"})});
  EXPECT_FALSE(waiting.wait_for(milliseconds(100)));
  EXPECT_EQ(waiting.state(), Lock::State::kReleased);
  AwaitStats(server, ns, "\"GroupsPending\":0,\"GroupsAcquired\":1,");
  // b is usable again.
  Lock other = b.lock({Write({"b"})});
  EXPECT_TRUE(other.acquired_at_once());
}

TEST(ClientTest, WaitForReturnsTrueOnceAcquired) {
  ServerProcess server;
  const std::string ns = e2e::UniqueNs();
  Client a(At(server, ns)), b(At(server, ns));
  Lock held = a.lock({Write({"a"})});
  Lock waiting = b.lock({Write({"a"})});
  held.release();
  EXPECT_TRUE(waiting.wait_for(seconds(20)));
  EXPECT_TRUE(waiting.acquired());
}

// PROTOCOL.md: a client that releases an enqueued lock may receive the
// acquisition notice before the release answer. Here the server has sent
// the notice before the client's release leaves: the client consumes it,
// takes the release answer, and can lock again.
TEST(ClientTest, ReleaseCrossesAcquisitionNotice) {
  ServerProcess server;
  const std::string ns = e2e::UniqueNs();
  Client a(At(server, ns)), b(At(server, ns));
  Lock held = a.lock({Write({"a"})});
  Lock waiting = b.lock({Write({"a"})});
  held.release();
  AwaitStats(server, ns, "\"GroupsPending\":0,\"GroupsAcquired\":1,");
  // The notice is on the wire; the client has not read it yet.
  EXPECT_EQ(waiting.state(), Lock::State::kEnqueued);
  waiting.release();
  EXPECT_EQ(waiting.state(), Lock::State::kReleased);
  AwaitStats(server, ns, "\"GroupsPending\":0,\"GroupsAcquired\":0,");
  Lock again = b.lock({Write({"a"})});
  EXPECT_TRUE(again.acquired_at_once());
  EXPECT_EQ(again.fencing_token(), 3u);
}

// The same crossing through wait_for's timeout: whichever way the race
// goes, the lock ends consistent and the client usable.
TEST(ClientTest, WaitForTimeoutCrossesAcquisitionNotice) {
  ServerProcess server;
  const std::string ns = e2e::UniqueNs();
  Client a(At(server, ns)), b(At(server, ns));
  Lock held = a.lock({Write({"a"})});
  Lock waiting = b.lock({Write({"a"})});
  held.release();
  AwaitStats(server, ns, "\"GroupsPending\":0,\"GroupsAcquired\":1,");
  if (waiting.wait_for(milliseconds(0))) {
    EXPECT_EQ(waiting.state(), Lock::State::kAcquired);
    waiting.release();
  } else {
    EXPECT_EQ(waiting.state(), Lock::State::kReleased);
  }
  AwaitStats(server, ns, "\"GroupsPending\":0,\"GroupsAcquired\":0,");
  EXPECT_TRUE(b.lock({Write({"a"})}).acquired_at_once());
}

TEST(ClientTest, GuardAndHandleReleaseOnScopeExit) {
  ServerProcess server;
  const std::string ns = e2e::UniqueNs();
  Client a(At(server, ns)), b(At(server, ns));
  {
    LockGuard guard(a, {Write({"a"})});
    EXPECT_EQ(guard.fencing_token(), 1u);
    EXPECT_FALSE(b.lock({Write({"a"})}).acquired_at_once());  // cancelled again
  }
  {
    Lock lock = a.lock({Write({"a"})});
    EXPECT_TRUE(lock.acquired());
  }
  AwaitStats(server, ns, "\"GroupsPending\":0,\"GroupsAcquired\":0,");
  EXPECT_TRUE(b.lock({Write({"a"})}).acquired_at_once());
}

TEST(ClientTest, OneLiveLockPerClient) {
  ServerProcess server;
  const std::string ns = e2e::UniqueNs();
  Client a(At(server, ns));
  Lock lock = a.lock({Write({"a"})});
  EXPECT_THROW(a.lock({Write({"b"})}), std::logic_error);
  EXPECT_THROW(a.lock({}), std::invalid_argument);
  lock.release();
  EXPECT_THROW(lock.wait(), std::logic_error);
  EXPECT_TRUE(a.lock({Write({"b"})}).acquired_at_once());
}

TEST(ClientTest, RefusedHandshakeCarriesStatusAndBody) {
  LOCKTOPUS_NEEDS_OWN_SERVER("--max-abandon-timeout 1000");
  ServerProcess server(
      {"--max-abandon-timeout", "1000", "--default-abandon-timeout", "500"});
  ServerAddress address = At(server, e2e::UniqueNs());
  address.abandon_timeout_ms = 5000;
  try {
    Client client(address);
    FAIL() << "handshake accepted";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_NE(e.body().find("abandon-timeout-ms"), std::string::npos)
        << e.body();
  }
  EXPECT_THROW(Client(At(server, "")),
               std::invalid_argument);  // no namespace
}

TEST(ClientTest, ProtocolErrorCarriesTheServersReason) {
  LOCKTOPUS_NEEDS_OWN_SERVER("--max-resources 1");
  ServerProcess server({"--max-resources", "1"});
  Client client(At(server, e2e::UniqueNs()));
  try {
    client.lock({Write({"a"}), Write({"b"})});
    FAIL() << "lock accepted";
  } catch (const ProtocolError& e) {
    EXPECT_NE(e.reason().find("max-resources"), std::string::npos)
        << e.reason();
  }
  EXPECT_THROW(client.lock({Write({"a"})}), ProtocolError);  // unusable now
  EXPECT_FALSE(client.alive());
}

TEST(ClientTest, UnreachableServer) {
  LOCKTOPUS_NEEDS_OWN_SERVER("stops the server to find a port nobody serves");
  std::uint16_t port;
  {
    ServerProcess server;
    port = server.port();
  }
  EXPECT_THROW(Client("127.0.0.1", port, "ns"), ConnectionError);
  EXPECT_THROW(FetchStatus(ServerAddress{.port = port}), ConnectionError);
}

TEST(ClientTest, DroppedConnection) {
  LOCKTOPUS_NEEDS_OWN_SERVER("kills the server");
  ServerProcess server;
  const std::string ns = e2e::UniqueNs();
  Client a(At(server, ns)), b(At(server, ns));
  Lock held = a.lock({Write({"a"})});
  Lock waiting = b.lock({Write({"a"})});
  EXPECT_TRUE(a.alive(milliseconds(50)));
  EXPECT_TRUE(b.alive());
  server.Signal(SIGKILL);
  ASSERT_TRUE(server.WaitExit(seconds(20)));
  EXPECT_THROW(waiting.wait(), ConnectionError);
  EXPECT_FALSE(a.alive(seconds(20)));
  EXPECT_THROW(held.release(), ConnectionError);
}

TEST(ClientTest, PagesAndErrors) {
  ServerProcess server;
  const std::string seen = e2e::UniqueNs("seen");
  Client a(At(server, seen));
  Lock lock = a.lock({Read({"x"})});
  EXPECT_NE(FetchStats(At(server, seen), seen).find("\"GroupsAcquired\":1"),
            std::string::npos);
  EXPECT_NE(FetchStatus(At(server, "")).find("Locktopus"), std::string::npos);
  try {
    FetchStats(At(server, ""), e2e::UniqueNs("never"));
    FAIL();
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_EQ(e.body(), "Namespace not found");
  }
}

// One client per thread, each with its own lock; a waiter on one thread is
// woken by a release on another.
TEST(ClientTest, ClientsOnSeveralThreads) {
  ServerProcess server;
  const std::string ns = e2e::UniqueNs();
  Client a(At(server, ns));
  Lock held = a.lock({Write({"a"})});
  std::atomic<std::uint64_t> token{0};
  std::thread waiter([&] {
    Client b(At(server, ns));
    LockGuard guard(b, {Write({"a"})});
    token = guard.fencing_token();
  });
  AwaitStats(server, ns, "\"GroupsPending\":1,");
  held.release();
  waiter.join();
  EXPECT_EQ(token, 2u);
}

// A one-connection WebSocket server that grants the lock at once and, as
// the real server does (there: pinged after --keepalive-ms, dropped after
// twice that), pings an idle client after idle/2 and drops it after idle
// without an answer. Its verdict: "released" if the client's release arrived, or the
// error that ended the connection.
class PingingServer {
 public:
  explicit PingingServer(std::chrono::milliseconds idle) {
    namespace net = boost::asio;
    namespace beast = boost::beast;
    namespace websocket = beast::websocket;
    acceptor_.open(net::ip::tcp::v4());
    acceptor_.bind({net::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    thread_ = std::thread([this, idle] {
      websocket::stream<beast::tcp_stream> ws(acceptor_.accept());
      auto timeouts =
          websocket::stream_base::timeout::suggested(beast::role_type::server);
      timeouts.idle_timeout = idle;
      timeouts.keep_alive_pings = true;
      ws.set_option(timeouts);
      ws.accept();
      beast::flat_buffer buffer;
      ws.read(buffer);  // the lock
      ws.text(true);
      ws.write(net::buffer(
          std::string(R"({"id":"1","action":"lock","state":"acquired"})")));
      buffer.clear();
      beast::error_code error;
      ws.async_read(buffer, [&](beast::error_code ec, std::size_t) {
        error = ec;
        ioc_.stop();  // leave the idle timer behind
      });
      ioc_.run();  // Beast's timeouts apply to asynchronous operations only
      if (error) {
        verdict_ = error.message();
        return;
      }
      verdict_ = "released";
      ws.write(net::buffer(std::string(
                   R"({"id":"1","action":"release","state":"ready"})")),
               error);
    });
  }
  ~PingingServer() { Join(); }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string Join() {
    if (thread_.joinable()) thread_.join();
    return verdict_;
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_{ioc_};
  std::thread thread_;
  std::string verdict_;
};

// A lock held without any call for longer than the server's idle timeout:
// the Client's background thread answers the pings, so the connection
// stays; without it (ping_interval 0) the server drops the connection.
TEST(ClientTest, AnswersKeepAlivePingsBetweenCalls) {
  for (const bool keeper : {true, false}) {
    PingingServer server(milliseconds(1000));
    ServerAddress address;
    address.port = server.port();
    address.ns = "ns";
    address.ping_interval = keeper ? milliseconds(50) : milliseconds(0);
    Client client(address);
    Lock lock = client.lock({Write({"a"})});
    EXPECT_TRUE(lock.acquired_at_once());
    std::this_thread::sleep_for(seconds(3));  // holding, no calls
    if (keeper) {
      lock.release();
      EXPECT_EQ(server.Join(), "released");
    } else {
      EXPECT_THROW(lock.release(), ConnectionError);
      EXPECT_NE(server.Join(), "released");
    }
  }
}

// One client from two threads: a wait() on one and alive() on the other
// run one at a time, in either order.
TEST(ClientTest, OneClientFromTwoThreads) {
  ServerProcess server;
  const std::string ns = e2e::UniqueNs();
  Client a(At(server, ns)), b(At(server, ns));
  Lock held = a.lock({Write({"a"})});
  Lock waiting = b.lock({Write({"a"})});
  std::thread waiter([&] { waiting.wait(); });
  held.release();
  EXPECT_TRUE(b.alive(milliseconds(10)));
  waiter.join();
  EXPECT_EQ(waiting.state(), Lock::State::kAcquired);
}

}  // namespace
}  // namespace locktopus
