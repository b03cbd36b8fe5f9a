// The C++ client library (client/include/locktopus/) against the real
// server binary: every call of the API, the errors it reports, a release
// crossing an acquisition notice on the wire, a silent (SIGSTOPped) server
// counted lost in time and a healthy idle one not, a session resumed
// across a cut of its connection, and a server run with
// --tls-cert and --auth-token-file.

#include "locktopus/client.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "tests/e2e/server_process.h"
#include "tests/e2e/tcp_relay.h"
#include "tests/e2e/test_certs.h"

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
  ASSERT_TRUE(
      e2e::WaitForHttp(server, "/stats_v1?namespace=" + ns, text, seconds(20)))
      << e2e::HttpGet(server, "/stats_v1?namespace=" + ns).body;
}

TEST(ClientAddressTest, ParsesUrls) {
  ServerAddress a = ParseUrl(
      "ws://lock.example:9010/v1?namespace=a%20b&abandon-timeout-ms=5");
  EXPECT_EQ(a.host, "lock.example");
  EXPECT_EQ(a.port, 9010);
  EXPECT_EQ(a.ns, "a b");
  EXPECT_EQ(a.abandon_timeout_ms, 5u);
  EXPECT_FALSE(a.tls);
  EXPECT_EQ(a.client_name, "");
  a = ParseUrl("http://127.0.0.1");
  EXPECT_EQ(a.port, 80);
  EXPECT_EQ(a.ns, "");
  EXPECT_FALSE(a.abandon_timeout_ms);
  a = ParseUrl("wss://lock.example/v1?namespace=n&client=job%201");
  EXPECT_TRUE(a.tls);
  EXPECT_EQ(a.port, 443);
  EXPECT_EQ(a.client_name, "job 1");
  a = ParseUrl("https://lock.example:9443");
  EXPECT_TRUE(a.tls);
  EXPECT_EQ(a.port, 9443);
  EXPECT_THROW(ParseUrl("ftp://x/v1"), std::invalid_argument);
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
  a.client_name = "host:42 ./job.sh --x=ü";
  EXPECT_EQ(LockTarget(a),
            "/v1?namespace=a%2Bb%20c%26d&abandon-timeout-ms=0"
            "&client=host%3A42%20.%2Fjob.sh%20--x%3D%C3%BC");
  // The token never travels in the URL.
  a.token = "secret";
  EXPECT_EQ(LockTarget(a).find("secret"), std::string::npos);
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

TEST(ClientAddressTest, FormatsPathsAsParsePathReadsThem) {
  using P = std::vector<std::string>;
  EXPECT_EQ(FormatPath({}), "/");
  EXPECT_EQ(FormatPath({"jobs", "nightly"}), "jobs/nightly");
  EXPECT_EQ(FormatPath({"a/b", "c%d"}), "a%2Fb/c%25d");
  EXPECT_EQ(FormatPath({"ü", "a b+c"}), "ü/a b+c");
  for (const P& path : {P{}, P{"a"}, P{"a/b", "c%2F"}, P{"", "a"},
                        P{"a", "", "b", ""}, P{"%", "/", "//"}}) {
    EXPECT_EQ(ParsePath(FormatPath(path)), path) << FormatPath(path);
  }
  EXPECT_EQ(FormatPath({""}), "");  // the one path no text names
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

// docs/protocol.md: a client that releases an enqueued lock may receive the
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

// A Client in a session, its network cut by a relay: it resumes, the lock
// keeps its ID and its hold (a second client still waits), and it is
// released on the new connection.
TEST(ClientTest, ASessionResumesAcrossACut) {
  ServerProcess server;
  e2e::TcpRelay relay(server.port());
  const std::string ns = e2e::UniqueNs();
  ServerAddress address = At(server, ns);
  address.port = relay.port();
  address.session = true;
  address.abandon_timeout_ms = 5000;
  Client client(address);
  std::atomic<int> resumed{0};
  client.on_session_event([&](SessionEvent event, const std::string&) {
    if (event == SessionEvent::kResumed) ++resumed;
  });
  EXPECT_EQ(client.abandon_timeout(), milliseconds(5000));
  Lock lock = client.lock({Write({"a"})});
  ASSERT_TRUE(lock.acquired_at_once());
  relay.Cut();
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (resumed == 0 && std::chrono::steady_clock::now() < deadline) {
    EXPECT_TRUE(client.alive(milliseconds(20)));
  }
  ASSERT_EQ(resumed, 1);
  EXPECT_TRUE(lock.acquired());
  Client second(At(server, ns));
  Lock waiting = second.lock({Write({"a"})});
  EXPECT_FALSE(waiting.acquired_at_once());
  lock.release();
  EXPECT_TRUE(waiting.wait_for(seconds(20)));
  EXPECT_EQ(waiting.id(), lock.id() + 1);
}

// A one-connection WebSocket server that grants the lock at once and, as
// the real server does (there: pinged after --keepalive-ms, dropped after
// twice that), pings an idle client after idle/2 and drops it after idle
// without an answer. Its verdict: "released" if the client's release arrived,
// or the error that ended the connection.
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
    // Known and long: the client's own silence limit stays out of the way.
    address.abandon_timeout_ms = 60000;
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

// SilenceRuleFor an address with these, with or without a session.
SilenceRule RuleFor(std::optional<std::uint64_t> abandon_ms,
                    milliseconds ping_interval, bool session) {
  ServerAddress address;
  address.abandon_timeout_ms = abandon_ms;
  address.ping_interval = ping_interval;
  address.session = session;
  return SilenceRuleFor(address);
}

// The silence rule's numbers: A − max(A/5, 200 ms) for an abandon timeout
// A that leaves at least 100 ms, pinging after half of that or after
// ping_interval; otherwise (A small, 0 or not known) a ping unanswered for a
// whole ping_interval.
TEST(ClientAddressTest, SilenceRule) {
  const auto rule = [](std::optional<std::uint64_t> abandon_ms,
                       milliseconds ping_interval = seconds(5)) {
    const SilenceRule r = RuleFor(abandon_ms, ping_interval, false);
    EXPECT_EQ(r.suspect, r.limit);  // the connection is the lock
    return std::pair(r.ping_every.count(), r.limit.count());
  };
  using Pair = std::pair<std::int64_t, std::int64_t>;
  EXPECT_EQ(rule(60000), Pair(5000, 48000));
  EXPECT_EQ(rule(10000), Pair(4000, 8000));
  EXPECT_EQ(rule(2000), Pair(800, 1600));
  EXPECT_EQ(rule(1000), Pair(400, 800));
  EXPECT_EQ(rule(300), Pair(50, 100));
  EXPECT_EQ(rule(299), Pair(5000, 10000));
  EXPECT_EQ(rule(0), Pair(5000, 10000));
  EXPECT_EQ(rule(std::nullopt), Pair(5000, 10000));
  EXPECT_EQ(rule(std::nullopt, milliseconds(200)), Pair(200, 400));
  EXPECT_EQ(rule(60000, milliseconds(200)), Pair(200, 48000));
  // No background thread: pings go out inside calls, as often.
  EXPECT_EQ(rule(2000, milliseconds(0)), Pair(800, 1600));
  EXPECT_EQ(rule(std::nullopt, milliseconds(0)), Pair(5000, 10000));
}

// A session's connection is suspect at half the limit, and pinged at least
// every quarter of it: the same limit, {ping_every, suspect}.
TEST(ClientAddressTest, SilenceRuleOfASession) {
  const auto rule = [](std::optional<std::uint64_t> abandon_ms,
                       milliseconds ping_interval = seconds(5)) {
    const SilenceRule r = RuleFor(abandon_ms, ping_interval, true);
    EXPECT_EQ(r.limit, RuleFor(abandon_ms, ping_interval, false).limit);
    return std::pair(r.ping_every.count(), r.suspect.count());
  };
  using Pair = std::pair<std::int64_t, std::int64_t>;
  EXPECT_EQ(rule(60000), Pair(5000, 24000));
  EXPECT_EQ(rule(10000), Pair(2000, 4000));
  EXPECT_EQ(rule(2000), Pair(400, 800));
  EXPECT_EQ(rule(1000), Pair(200, 400));
  EXPECT_EQ(rule(std::nullopt), Pair(2500, 5000));
  EXPECT_EQ(rule(std::nullopt, milliseconds(200)), Pair(100, 200));
  EXPECT_EQ(rule(2000, milliseconds(0)), Pair(400, 800));
}

// A client whose server goes silent (SIGSTOP: the connection stays open,
// nothing answers) counts its connection, and so its lock, lost once its
// last proof of life is silence_limit() old: not before, and not much
// after (within the margin, well before the abandon timeout). Without a
// known abandon timeout, once a ping has gone unanswered for a whole ping
// interval.
TEST(ClientTest, ASilentServerIsALostConnection) {
  LOCKTOPUS_NEEDS_OWN_SERVER("stops the server");
  struct Case {
    std::optional<std::uint64_t> abandon_ms;
    milliseconds ping_interval;
    milliseconds limit;
  };
  for (const Case& c :
       {Case{2000, seconds(5), milliseconds(1600)},
        Case{std::nullopt, milliseconds(200), milliseconds(400)}}) {
    SCOPED_TRACE("abandon timeout " +
                 (c.abandon_ms ? std::to_string(*c.abandon_ms) : "unset"));
    ServerProcess server;
    ServerAddress address = At(server, e2e::UniqueNs());
    address.abandon_timeout_ms = c.abandon_ms;
    address.ping_interval = c.ping_interval;
    Client client(address);
    EXPECT_EQ(client.silence_limit(), c.limit);
    Lock lock = client.lock({Write({"a"})});
    ASSERT_TRUE(lock.acquired_at_once());
    std::this_thread::sleep_for(c.limit);  // pinged and answered meanwhile
    ASSERT_TRUE(client.alive());

    ASSERT_TRUE(server.Pause(seconds(5)));
    const auto stopped = std::chrono::steady_clock::now();
    auto lost = stopped;
    while (client.alive() && lost - stopped < seconds(10)) {
      std::this_thread::sleep_for(milliseconds(2));
      lost = std::chrono::steady_clock::now();
    }
    const auto last = client.last_heard();
    server.Signal(SIGCONT);
    ASSERT_LT(lost - stopped, seconds(10)) << "the silence went unnoticed";
    EXPECT_LE(last, stopped);
    EXPECT_GE(lost - last, c.limit) << "counted lost early";
    EXPECT_LE(lost - last, c.limit + milliseconds(100)) << "counted lost late";
    try {
      lock.release();
      ADD_FAILURE() << "released on a lost connection";
    } catch (const ConnectionError& e) {
      EXPECT_NE(std::string(e.what()).find("silent"), std::string::npos)
          << e.what();
    }
  }
}

// wait() has no deadline of its own, but a silent server ends it: it throws
// once the silence is over the limit, instead of waiting for TCP forever.
TEST(ClientTest, WaitGivesUpOnASilentServer) {
  LOCKTOPUS_NEEDS_OWN_SERVER("stops the server");
  ServerProcess server;
  const std::string ns = e2e::UniqueNs();
  Client holder(At(server, ns));
  Lock held = holder.lock({Write({"a"})});
  ServerAddress address = At(server, ns);
  address.abandon_timeout_ms = 1000;
  Client waiter(address);
  Lock waiting = waiter.lock({Write({"a"})});
  ASSERT_EQ(waiting.state(), Lock::State::kEnqueued);
  std::this_thread::sleep_for(milliseconds(500));

  std::promise<std::string> ended;
  std::thread thread([&] {
    try {
      waiting.wait();
      ended.set_value("acquired");
    } catch (const ConnectionError& e) {
      ended.set_value(e.what());
    }
  });
  EXPECT_TRUE(server.Pause(seconds(5)));  // the thread must be joined
  std::future<std::string> result = ended.get_future();
  const bool gave_up = result.wait_for(seconds(5)) == std::future_status::ready;
  const auto gave_up_at = std::chrono::steady_clock::now();
  server.Signal(SIGCONT);
  if (!gave_up) held.release();  // lets the wait end
  thread.join();
  ASSERT_TRUE(gave_up) << "wait() went on past the silence";
  EXPECT_NE(result.get().find("silent"), std::string::npos);
  EXPECT_LE(gave_up_at - waiter.last_heard(),
            waiter.silence_limit() + milliseconds(100));
}

// A healthy connection left idle for many ping intervals, no call made, is
// not counted lost: the background thread pings, and each pong renews the
// proof of life in time. Nor is a session's ever suspect: it is never given
// up for a new one.
TEST(ClientTest, AHealthyIdleConnectionIsNotLost) {
  ServerProcess server;
  for (const bool session : {false, true}) {
    for (const auto& [abandon_ms, ping_interval] :
         {std::pair<std::optional<std::uint64_t>, milliseconds>{1000,
                                                                seconds(5)},
          {std::nullopt, milliseconds(200)}}) {
      SCOPED_TRACE(session ? "session" : "no session");
      ServerAddress address = At(server, e2e::UniqueNs());
      address.abandon_timeout_ms = abandon_ms;
      address.ping_interval = ping_interval;
      address.session = session;
      Client client(address);
      std::atomic<int> events{0};
      client.on_session_event(
          [&](SessionEvent, const std::string&) { ++events; });
      Lock lock = client.lock({Write({"a"})});
      std::this_thread::sleep_for(milliseconds(2500));  // many ping intervals
      const auto silence =
          std::chrono::steady_clock::now() - client.last_heard();
      EXPECT_LT(silence, client.silence_limit());
      EXPECT_TRUE(client.alive());
      EXPECT_EQ(events, 0) << "a healthy connection was given up";
      EXPECT_NO_THROW(lock.release());
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

// alive() on an enqueued lock whose acquisition notice arrives meanwhile:
// the notice is the one message expected, whenever it lands, and is taken as
// the acquisition; alive() stays true. Spinning alive() while the holder
// releases puts the notice's arrival at every point of alive()'s reads.
TEST(ClientTest, AliveWhileTheAcquisitionArrives) {
  ServerProcess server;
  const std::string ns = e2e::UniqueNs();
  Client a(At(server, ns)), b(At(server, ns));
  for (int round = 0; round < 200; ++round) {
    Lock held = a.lock({Write({"a"})});
    Lock waiting = b.lock({Write({"a"})});
    ASSERT_EQ(waiting.state(), Lock::State::kEnqueued);
    std::thread releaser([&] {
      std::this_thread::sleep_for(std::chrono::microseconds(round * 5));
      held.release();
    });
    bool alive = true;
    while (alive && waiting.state() == Lock::State::kEnqueued) {
      alive = b.alive();
    }
    releaser.join();
    ASSERT_TRUE(alive) << "round " << round;
    waiting.release();
  }
}

// A server with --tls-cert and --auth-token-file, and the throwaway CA that
// signed its certificate (tests/e2e/test_certs.h).
class ClientTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new std::optional<e2e::TestCerts>(e2e::TestCerts::Make());
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }
  void SetUp() override {
    LOCKTOPUS_NEEDS_OWN_SERVER("starts it with certificates of its own");
    if (!*certs_) GTEST_SKIP() << "the openssl CLI is missing or failed";
    tokens_ = certs().dir / ("tokens-" + e2e::UniqueNs("t"));
    std::ofstream(tokens_) << "# one token per line\n" << kToken << "\n";
  }
  static const e2e::TestCerts& certs() { return **certs_; }

  // Flags for a server with the test certificate and the token file.
  std::vector<std::string> Protected(const std::string& cert,
                                     const std::string& key) const {
    std::vector<std::string> flags = {"--tls-cert", cert, "--tls-key", key};
    flags.insert(flags.end(), {"--auth-token-file", tokens_.string()});
    return flags;
  }
  std::vector<std::string> Protected() const {
    return Protected(certs().cert, certs().key);
  }
  // The address of `server` with TLS, the test CA and the token.
  static ServerAddress Secure(const ServerProcess& server, std::string ns) {
    ServerAddress address = At(server, std::move(ns));
    address.tls = true;
    address.ca_file = certs().ca;
    address.token = kToken;
    return address;
  }

  static constexpr const char* kToken = "tls-test-token-7f3a";
  static std::optional<e2e::TestCerts>* certs_;
  std::filesystem::path tokens_;
};
std::optional<e2e::TestCerts>* ClientTlsTest::certs_ = nullptr;

// Expects `f` to throw ConnectionError whose message contains `text`.
template <class F>
void ExpectConnectionError(F f, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one about " << text;
  } catch (const ConnectionError& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

// Expects `f` to throw HttpError 401, whose message holds no token.
template <class F>
void ExpectUnauthorized(F f) {
  try {
    f();
    ADD_FAILURE() << "no error; expected HTTP 401";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 401) << e.what();
    EXPECT_EQ(std::string(e.what()).find("token-7f3a"), std::string::npos);
  }
}

TEST_F(ClientTlsTest, LocksOverWssWithTheCaAndToken) {
  ServerProcess server(Protected());
  const std::string ns = e2e::UniqueNs("tls");
  Client a(Secure(server, ns));
  ServerAddress by_name = Secure(server, ns);
  by_name.host = "localhost";  // the certificate names both
  Client b(by_name);
  Lock first = a.lock({Write({"x", "y"})});
  EXPECT_TRUE(first.acquired_at_once());
  Lock second = b.lock({Write({"x"})});
  EXPECT_FALSE(second.acquired_at_once());
  EXPECT_NE(FetchStats(Secure(server, ""), ns).find("\"GroupsPending\":1"),
            std::string::npos);
  EXPECT_NE(FetchStatus(by_name).find("wss://"), std::string::npos);
  first.release();
  EXPECT_TRUE(second.wait_for(seconds(20)));
  EXPECT_EQ(second.fencing_token(), 2u);
  EXPECT_TRUE(a.alive(milliseconds(20)));
  second.release();
  // From a URL, as locktopusctl's --url gives it.
  ServerAddress from_url =
      ParseUrl("wss://127.0.0.1:" + std::to_string(server.port()) +
               "/v1?namespace=" + ns);
  from_url.ca_file = certs().ca;
  from_url.token = kToken;
  Client c(from_url);
  EXPECT_EQ(c.lock({Read({"x"})}).fencing_token(), 3u);
}

TEST_F(ClientTlsTest, RefusesAServerItCannotVerify) {
  ServerProcess server(Protected());
  const std::string ns = e2e::UniqueNs("tls");
  // The system's trust store does not hold the test CA.
  ServerAddress system_store = Secure(server, ns);
  system_store.ca_file.clear();
  ExpectConnectionError([&] { Client c(system_store); }, "not trusted");
  ExpectConnectionError([&] { FetchStatus(system_store); }, "not trusted");
  ServerAddress other_ca = Secure(server, ns);
  other_ca.ca_file = certs().other_ca;
  ExpectConnectionError([&] { Client c(other_ca); }, "not trusted");
  ServerAddress missing = Secure(server, ns);
  missing.ca_file = (certs().dir / "missing.pem").string();
  ExpectConnectionError([&] { Client c(missing); }, "missing.pem");
  ExpectConnectionError([&] { FetchStatus(missing); }, "missing.pem");
  // A plain client gets no answer from a TLS server, and a hint.
  ServerAddress plain = Secure(server, ns);
  plain.tls = false;
  ExpectConnectionError([&] { Client c(plain); }, "use wss://");
  ExpectConnectionError([&] { FetchStatus(plain); }, "use https://");
}

TEST_F(ClientTlsTest, RefusesACertificateForAnotherHost) {
  // Signed by the trusted CA, but for other.example only.
  ServerProcess server(
      Protected(certs().other_host_cert, certs().other_host_key));
  const std::string ns = e2e::UniqueNs("tls");
  ServerAddress address = Secure(server, ns);
  ExpectConnectionError([&] { Client c(address); }, "does not name 127.0.0.1");
  ExpectConnectionError([&] { FetchStats(address, ns); },
                        "does not name 127.0.0.1");
  address.host = "localhost";
  ExpectConnectionError([&] { Client c(address); }, "does not name localhost");
}

TEST_F(ClientTlsTest, TokenMissingOrWrongIsHttp401) {
  ServerProcess server(Protected());
  const std::string ns = e2e::UniqueNs("tls");
  ServerAddress none = Secure(server, ns);
  none.token.clear();
  ExpectUnauthorized([&] { Client c(none); });
  ExpectUnauthorized([&] { FetchStats(none, ns); });
  ExpectUnauthorized([&] { FetchStatus(none); });
  ServerAddress wrong = Secure(server, ns);
  wrong.token = std::string("wrong-") + kToken;
  ExpectUnauthorized([&] { Client c(wrong); });
  ExpectUnauthorized([&] { FetchStatus(wrong); });
  // The token file's token works; one line of it is a comment.
  Client ok(Secure(server, ns));
  EXPECT_TRUE(ok.lock({Write({"a"})}).acquired_at_once());
}

// A TLS client against a plain server: the handshake fails, said so.
TEST_F(ClientTlsTest, TlsClientAgainstAPlainServer) {
  ServerProcess server;
  ServerAddress address = Secure(server, e2e::UniqueNs("tls"));
  ExpectConnectionError([&] { Client c(address); }, "TLS handshake failed");
  ExpectConnectionError([&] { FetchStatus(address); }, "TLS handshake failed");
}

// client_name is sent as client=NAME; a server that does not know the
// parameter ignores it.
TEST(ClientTest, SendsItsName) {
  ServerProcess server;
  ServerAddress address = At(server, e2e::UniqueNs());
  address.client_name = "job-1 on host:42, ü";
  Client client(address);
  EXPECT_TRUE(client.lock({Write({"a"})}).acquired_at_once());
}

}  // namespace
}  // namespace locktopus
