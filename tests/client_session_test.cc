// The C++ client's sessions (client.h, "Sessions") against a scripted
// WebSocket server on a loopback port, which plays the server's side of
// docs/protocol.md's Sessions one connection at a time: the targets the
// client asks for, a resume after a drop keeping the lock and its ID, a lock
// or release in flight at the drop settled by the resumed frame's lock
// state, 429 retried, the session lost on 4410, 4409 and 4000 and once the
// window has passed (counted from the last proof of life, not from the
// drop), and a client without a session that never reconnects.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "locktopus/address.h"
#include "locktopus/client.h"

namespace locktopus {
namespace {
using namespace locktopus::client;  // the API under test
using std::chrono::milliseconds;
using std::chrono::seconds;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

constexpr const char* kToken = "00000000000000a1.secret";

// One connection accepted by the ScriptedServer: its request, and the
// server's side of the conversation. Every read gives up after 10 s.
class Peer {
 public:
  explicit Peer(tcp::socket socket) : ws_(std::move(socket)) {
    const timeval patience = {.tv_sec = 10, .tv_usec = 0};
    setsockopt(ws_.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO,
               &patience, sizeof patience);
    http::read(ws_.next_layer(), buffer_, request_);
  }

  // The request's target, e.g. "/v1?namespace=ns&session=new".
  std::string target() const { return std::string(request_.target()); }

  void Accept() {
    ws_.accept(request_);
    ws_.text(true);
  }
  // Refuses the upgrade with `status`.
  void Refuse(http::status status) {
    http::response<http::string_body> response(status, 11, "try later");
    response.prepare_payload();
    http::write(ws_.next_layer(), response);
  }
  void Send(const std::string& text) { ws_.write(net::buffer(text)); }
  // The next text frame; "" if the connection ended.
  std::string Read() {
    beast::flat_buffer buffer;
    beast::error_code error;
    ws_.read(buffer, error);
    return error ? "" : beast::buffers_to_string(buffer.data());
  }
  void Close(std::uint16_t code) {
    beast::error_code error;
    ws_.close(websocket::close_reason(code), error);
  }
  // Ends the TCP connection without a close: a network that failed.
  void Drop() {
    beast::error_code error;
    ws_.next_layer().shutdown(tcp::socket::shutdown_both, error);
    ws_.next_layer().close(error);
  }
  // Keeps the connection open, and silent, once the script returns: nothing
  // is read (so the client's pings go unanswered) and nothing ends it until
  // the server goes, as with a half-open TCP connection.
  void KeepOpenSilent() { kept_open_ = true; }
  bool kept_open() const { return kept_open_; }

 private:
  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  bool kept_open_ = false;
};

// Accepts connections one after another and runs the next script on each;
// a connection beyond the scripts is refused with 503. Each script's
// connection is dropped when the script returns, unless it closed it or
// kept it open (Peer::KeepOpenSilent).
class ScriptedServer {
 public:
  using Script = std::function<void(Peer&)>;
  explicit ScriptedServer(std::vector<Script> scripts)
      : scripts_(std::move(scripts)) {
    acceptor_.open(tcp::v4());
    acceptor_.bind({net::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    beast::error_code error;
    // Wakes the blocked accept with a connection of its own.
    tcp::socket wake(ioc_);
    wake.connect(acceptor_.local_endpoint(), error);
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  // Connections accepted so far.
  int accepted() const {
    std::lock_guard lock(mu_);
    return accepted_;
  }

 private:
  void Serve() {
    for (std::size_t next = 0;; ++next) {
      beast::error_code error;
      tcp::socket socket = acceptor_.accept(error);
      {
        std::lock_guard lock(mu_);
        if (done_ || error) return;
        ++accepted_;
      }
      try {
        auto peer = std::make_unique<Peer>(std::move(socket));
        if (next < scripts_.size()) {
          scripts_[next](*peer);
          if (peer->kept_open()) {
            kept_.push_back(std::move(peer));
          } else {
            peer->Drop();
          }
        } else {
          peer->Refuse(http::status::service_unavailable);
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "connection " << next << ": " << e.what();
      }
    }
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_{ioc_};
  std::vector<Script> scripts_;
  mutable std::mutex mu_;
  bool done_ = false;
  int accepted_ = 0;
  std::vector<std::unique_ptr<Peer>> kept_;  // open until the server goes
  std::thread thread_;
};

std::string NewFrame(std::uint64_t abandon_ms) {
  return std::string(R"({"action":"session","state":"new","session":")") +
         kToken + R"(","abandon-timeout-ms":)" + std::to_string(abandon_ms) +
         "}";
}
// The resumed frame; `lock` "none" has no ID.
std::string ResumedFrame(const std::string& lock, std::uint64_t id = 0) {
  return std::string(R"({"action":"session","state":"resumed","session":")") +
         kToken + R"(","abandon-timeout-ms":5000)" +
         (lock == "none" ? "" : R"(,"id":")" + std::to_string(id) + "\"") +
         R"(,"lock":")" + lock + "\"}";
}
std::string Answer(std::uint64_t id, const std::string& action,
                   const std::string& state) {
  return R"({"id":")" + std::to_string(id) + R"(","action":")" + action +
         R"(","state":")" + state + "\"}";
}
constexpr const char* kRelease = R"({"action":"release"})";

// The first connection: a new session with a window of `window_ms`, its
// lock request answered `state` with `id`, then what `then` does (the drop
// follows).
ScriptedServer::Script Opened(std::uint64_t id, const std::string& state,
                              std::function<void(Peer&)> then = {},
                              std::uint64_t window_ms = 5000) {
  return [id, state, then, window_ms](Peer& peer) {
    EXPECT_NE(peer.target().find("&session=new"), std::string::npos)
        << peer.target();
    peer.Accept();
    peer.Send(NewFrame(window_ms));
    EXPECT_NE(peer.Read().find(R"("action":"lock")"), std::string::npos);
    peer.Send(Answer(id, "lock", state));
    if (then) then(peer);
  };
}

// A resume: the target carries the token; the first frame is `frame`.
ScriptedServer::Script Resumed(const std::string& frame,
                               std::function<void(Peer&)> then = {}) {
  return [frame, then](Peer& peer) {
    EXPECT_NE(peer.target().find(std::string("&session=") + kToken),
              std::string::npos)
        << peer.target();
    EXPECT_EQ(peer.target().find("abandon-timeout-ms"), std::string::npos);
    peer.Accept();
    peer.Send(frame);
    if (then) then(peer);
  };
}

// Answers a release of lock `id`.
void AnswerRelease(Peer& peer, std::uint64_t id) {
  EXPECT_EQ(peer.Read(), kRelease);
  peer.Send(Answer(id, "release", "ready"));
  peer.Read();  // until the client closes
}

// Reads a lock request, grants it as lock `id`, and answers its release.
void GrantAndRelease(Peer& peer, std::uint64_t id) {
  EXPECT_NE(peer.Read().find(R"("action":"lock")"), std::string::npos);
  peer.Send(Answer(id, "lock", "acquired"));
  AnswerRelease(peer, id);
}

// The events a Client reported, in order.
class Events {
 public:
  SessionListener Listener() {
    return [this](SessionEvent event, const std::string& detail) {
      std::lock_guard lock(mu_);
      events_.push_back(event);
      details_ += detail + "\n";
      at_.push_back(std::chrono::steady_clock::now());
    };
  }
  std::vector<SessionEvent> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  std::string details() const {
    std::lock_guard lock(mu_);
    return details_;
  }
  std::chrono::steady_clock::time_point at(std::size_t i) const {
    std::lock_guard lock(mu_);
    return at_.at(i);
  }
  // Waits until `n` events came; false after 10 s.
  bool AwaitCount(std::size_t n) const {
    const auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (events().size() < n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return true;
  }

 private:
  mutable std::mutex mu_;
  std::vector<SessionEvent> events_;
  std::string details_;
  std::vector<std::chrono::steady_clock::time_point> at_;
};

ServerAddress SessionAt(const ScriptedServer& server, bool keeper = true) {
  ServerAddress address;
  address.port = server.port();
  address.ns = "ns";
  address.session = true;
  address.abandon_timeout_ms = 5000;
  address.ping_interval = keeper ? milliseconds(100) : milliseconds(0);
  return address;
}

using Resumes = std::vector<SessionEvent>;
const Resumes kResumedOnce = {SessionEvent::kResuming, SessionEvent::kResumed};

TEST(ClientSessionTest, UrlsAndTargets) {
  EXPECT_TRUE(ParseUrl("ws://h:1/v1?namespace=a&session=new").session);
  EXPECT_FALSE(ParseUrl("ws://h:1/v1?namespace=a").session);
  EXPECT_THROW(ParseUrl("ws://h:1/v1?namespace=a&session=abc"),
               std::invalid_argument);
  ServerAddress address{.ns = "a b", .abandon_timeout_ms = 300};
  EXPECT_EQ(LockTarget(address), "/v1?namespace=a%20b&abandon-timeout-ms=300");
  address.session = true;
  EXPECT_EQ(LockTarget(address),
            "/v1?namespace=a%20b&abandon-timeout-ms=300&session=new");
  EXPECT_EQ(LockTarget(address, "0a.b-_c"),
            "/v1?namespace=a%20b&session=0a.b-_c");
}

// A drop while the lock is held, noticed by the background thread or inside
// a call (ping_interval 0): the client resumes, the lock keeps its ID, and
// it is released on the new connection.
TEST(ClientSessionTest, ResumesAfterADropKeepingTheLock) {
  for (const bool keeper : {true, false}) {
    SCOPED_TRACE(keeper ? "background thread" : "no background thread");
    ScriptedServer server(
        {Opened(7, "acquired"), Resumed(ResumedFrame("acquired", 7),
                                        [](Peer& p) { AnswerRelease(p, 7); })});
    Client client(SessionAt(server, keeper));
    Events events;
    client.on_session_event(events.Listener());
    EXPECT_EQ(client.session_state(), SessionState::kAttached);
    EXPECT_EQ(client.abandon_timeout(), milliseconds(5000));
    EXPECT_EQ(client.silence_limit(), milliseconds(4000));
    Lock lock = client.lock({Write({"a"})});
    ASSERT_TRUE(lock.acquired_at_once());
    EXPECT_TRUE(client.alive(milliseconds(200)));
    ASSERT_TRUE(events.AwaitCount(2)) << events.details();
    EXPECT_EQ(events.events(), kResumedOnce) << events.details();
    EXPECT_EQ(client.session_state(), SessionState::kAttached);
    EXPECT_TRUE(lock.acquired());
    EXPECT_EQ(lock.fencing_token(), 7u);
    lock.release();
    EXPECT_EQ(lock.state(), Lock::State::kReleased);
  }
}

// An enqueued lock resumed as acquired (granted while detached), and one
// still enqueued that is granted on the new connection.
TEST(ClientSessionTest, AnEnqueuedLockResumesInItsState) {
  for (const std::string resumed : {"acquired", "enqueued"}) {
    SCOPED_TRACE(resumed);
    ScriptedServer server(
        {Opened(4, "enqueued"),
         Resumed(ResumedFrame(resumed, 4), [resumed](Peer& p) {
           if (resumed == "enqueued") p.Send(Answer(4, "lock", "acquired"));
           AnswerRelease(p, 4);
         })});
    Client client(SessionAt(server));
    Lock lock = client.lock({Write({"a"})});
    EXPECT_FALSE(lock.acquired_at_once());
    ASSERT_TRUE(lock.wait_for(seconds(10)));
    EXPECT_EQ(lock.id(), 4u);
    lock.release();
  }
}

// A lock request whose answer the drop took: taken (the resumed frame holds
// it, and it is not sent again) or not (sent again on the new connection).
TEST(ClientSessionTest, ALockInFlightIsSettledByTheResume) {
  // A new session whose lock request goes unanswered.
  const ScriptedServer::Script unanswered = [](Peer& p) {
    p.Accept();
    p.Send(NewFrame(5000));
    p.Read();
  };
  ScriptedServer taken(
      {unanswered, Resumed(ResumedFrame("enqueued", 8), [](Peer& p) {
         p.Send(Answer(8, "lock", "acquired"));
         AnswerRelease(p, 8);  // and no second lock request before it
       })});
  {
    Client client(SessionAt(taken));
    Lock lock = client.lock({Write({"a"})});
    EXPECT_EQ(lock.id(), 8u);
    lock.wait();
    lock.release();
  }
  ScriptedServer not_taken(
      {unanswered,
       Resumed(ResumedFrame("none"), [](Peer& p) { GrantAndRelease(p, 9); })});
  Client client(SessionAt(not_taken));
  Lock lock = client.lock({Write({"a"})});
  EXPECT_TRUE(lock.acquired_at_once());
  EXPECT_EQ(lock.id(), 9u);
  lock.release();
}

// A release whose answer the drop took: taken (the resumed session holds no
// lock) or not (sent again).
TEST(ClientSessionTest, AReleaseInFlightIsSettledByTheResume) {
  const auto unanswered = [](Peer& p) { EXPECT_EQ(p.Read(), kRelease); };
  ScriptedServer taken(
      {Opened(3, "acquired", unanswered),
       Resumed(ResumedFrame("none"), [](Peer& p) { GrantAndRelease(p, 5); })});
  {
    Client client(SessionAt(taken));
    Lock lock = client.lock({Write({"a"})});
    lock.release();
    EXPECT_EQ(lock.state(), Lock::State::kReleased);
    Lock again = client.lock({Write({"a"})});
    EXPECT_EQ(again.id(), 5u);
  }
  ScriptedServer not_taken({Opened(3, "acquired", unanswered),
                            Resumed(ResumedFrame("acquired", 3),
                                    [](Peer& p) { AnswerRelease(p, 3); })});
  Client client(SessionAt(not_taken));
  Lock lock = client.lock({Write({"a"})});
  lock.release();
  EXPECT_EQ(lock.state(), Lock::State::kReleased);
}

// 429 (too many failed resumes from this address) and 503 are retried, with
// backoff, within the window.
TEST(ClientSessionTest, RefusalsToRetryAreRetried) {
  ScriptedServer server(
      {Opened(2, "acquired"),
       [](Peer& p) { p.Refuse(http::status::too_many_requests); },
       [](Peer& p) { p.Refuse(http::status::service_unavailable); },
       Resumed(ResumedFrame("acquired", 2),
               [](Peer& p) { AnswerRelease(p, 2); })});
  Client client(SessionAt(server));
  Events events;
  client.on_session_event(events.Listener());
  Lock lock = client.lock({Write({"a"})});
  ASSERT_TRUE(events.AwaitCount(2)) << events.details();
  EXPECT_EQ(events.events(), kResumedOnce) << events.details();
  EXPECT_EQ(server.accepted(), 4);
  lock.release();
}

// The server says the session is gone on the resume (4410): lost, and
// every call says so.
TEST(ClientSessionTest, AGoneSessionIsLost) {
  ScriptedServer server({Opened(6, "acquired"), [](Peer& p) {
                           p.Accept();
                           p.Send(
                               "communication error: session expired: its "
                               "lock is gone");
                           p.Close(4410);
                         }});
  Client client(SessionAt(server));
  Events events;
  client.on_session_event(events.Listener());
  Lock lock = client.lock({Write({"a"})});
  ASSERT_TRUE(events.AwaitCount(2)) << events.details();
  EXPECT_EQ(events.events(),
            (Resumes{SessionEvent::kResuming, SessionEvent::kLost}));
  EXPECT_NE(events.details().find("session expired"), std::string::npos)
      << events.details();
  EXPECT_EQ(client.session_state(), SessionState::kLost);
  EXPECT_FALSE(client.alive());
  EXPECT_THROW(lock.release(), ConnectionError);
}

// Closes that end the session, not only its connection: an operator's
// release (4000), the session taken by another connection (4409), the
// session gone (4410). The client is lost at once and never reconnects.
TEST(ClientSessionTest, ClosesThatEndTheSessionAreNotResumed) {
  for (const std::uint16_t code : {4000, 4409, 4410}) {
    SCOPED_TRACE(code);
    ScriptedServer server(
        {Opened(1, "acquired", [code](Peer& p) { p.Close(code); })});
    Client client(SessionAt(server));
    Events events;
    client.on_session_event(events.Listener());
    Lock lock = client.lock({Write({"a"})});
    ASSERT_TRUE(events.AwaitCount(1));
    EXPECT_FALSE(client.alive(milliseconds(300)));
    EXPECT_EQ(events.events(), Resumes{SessionEvent::kLost});
    EXPECT_NE(events.details().find("code " + std::to_string(code)),
              std::string::npos)
        << events.details();
    EXPECT_EQ(server.accepted(), 1);
  }
}

// A session that cannot be resumed (every attempt refused with 503) is lost
// when its window, less the margin, has passed since the server was last
// heard from: the same moment the silence rule names, not counted from the
// drop. Abandon timeout 1 s: silence limit 800 ms.
TEST(ClientSessionTest, TheWindowCountsFromTheLastProofOfLife) {
  std::atomic<std::chrono::steady_clock::time_point> dropped;
  ScriptedServer server({[&dropped](Peer& p) {
    p.Accept();
    p.Send(NewFrame(1000));
    p.Read();
    p.Send(Answer(1, "lock", "acquired"));
    // Silent (no pings answered) for a while, then dropped; the client has
    // given the connection up by then (suspect at 400 ms), and its resumes
    // wait for this script to end, then are refused.
    std::this_thread::sleep_for(milliseconds(500));
    dropped = std::chrono::steady_clock::now();
  }});
  ServerAddress address = SessionAt(server);
  address.abandon_timeout_ms.reset();  // the server's frame says 1000
  Client client(address);
  Events events;
  client.on_session_event(events.Listener());
  EXPECT_EQ(client.silence_limit(), milliseconds(800));
  Lock lock = client.lock({Write({"a"})});
  ASSERT_TRUE(events.AwaitCount(2)) << events.details();
  EXPECT_EQ(events.events(),
            (Resumes{SessionEvent::kResuming, SessionEvent::kLost}));
  const auto heard = client.last_heard();
  const auto lost = events.at(1);
  EXPECT_GE(lost - heard, milliseconds(800)) << events.details();
  EXPECT_LT(lost - heard, milliseconds(800 + 150)) << events.details();
  // Well before the window counted from the drop would end.
  EXPECT_LT(lost - dropped.load(), milliseconds(800));
  EXPECT_GT(server.accepted(), 1);
  EXPECT_NE(events.details().find("window"), std::string::npos)
      << events.details();
}

// A connection that goes silent without ending (the server answers no
// ping, and nothing closes it: a half-open TCP connection, a relay that
// stopped forwarding) is suspect once the server was last heard from half
// the silence limit ago: the client gives it up and resumes the session on
// a new connection, keeping the lock, before the limit. Window 1 s: limit
// 800 ms, suspect at 400 ms.
TEST(ClientSessionTest, ASilentConnectionIsGivenUpAndTheSessionResumed) {
  ScriptedServer server(
      {Opened(
           7, "acquired", [](Peer& p) { p.KeepOpenSilent(); }, 1000),
       Resumed(ResumedFrame("acquired", 7),
               [](Peer& p) { AnswerRelease(p, 7); })});
  ServerAddress address = SessionAt(server);
  address.abandon_timeout_ms.reset();  // the server's frame says 1000
  Events events;
  Client client(address);
  EXPECT_EQ(client.silence_limit(), milliseconds(800));
  std::atomic<std::chrono::steady_clock::time_point> heard;
  client.on_session_event([&, record = events.Listener()](
                              SessionEvent event, const std::string& detail) {
    if (event == SessionEvent::kResuming) heard = client.last_heard();
    record(event, detail);
  });
  Lock lock = client.lock({Write({"a"})});
  ASSERT_TRUE(events.AwaitCount(2)) << events.details();
  EXPECT_EQ(events.events(), kResumedOnce) << events.details();
  EXPECT_NE(events.details().find("silent"), std::string::npos)
      << events.details();
  const auto suspected = events.at(0) - heard.load();
  EXPECT_GE(suspected, milliseconds(400)) << events.details();
  EXPECT_LT(suspected, milliseconds(400 + 150)) << events.details();
  EXPECT_LT(events.at(1) - heard.load(), milliseconds(800));
  EXPECT_EQ(server.accepted(), 2);
  EXPECT_EQ(client.session_state(), SessionState::kAttached);
  EXPECT_TRUE(lock.acquired());
  EXPECT_EQ(lock.id(), 7u);
  lock.release();
  EXPECT_EQ(lock.state(), Lock::State::kReleased);
}

// Without a session: no session= on the target, and a drop loses the
// connection with no attempt to reconnect.
TEST(ClientSessionTest, WithoutASessionADropIsFinal) {
  ScriptedServer server({[](Peer& p) {
    EXPECT_EQ(p.target(), "/v1?namespace=ns&abandon-timeout-ms=5000");
    p.Accept();
    p.Read();
    p.Send(Answer(1, "lock", "acquired"));
  }});
  ServerAddress address = SessionAt(server);
  address.session = false;
  Client client(address);
  Lock lock = client.lock({Write({"a"})});
  EXPECT_FALSE(client.alive(seconds(5)));
  EXPECT_EQ(client.session_state(), SessionState::kNone);
  EXPECT_THROW(lock.release(), ConnectionError);
  EXPECT_EQ(server.accepted(), 1);
}

}  // namespace
}  // namespace locktopus
