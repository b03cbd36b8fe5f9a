#include "bench/client.h"

#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <optional>
#include <variant>

#include "wire/codec.h"

namespace locktopus::bench {
namespace websocket = beast::websocket;
namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);

std::string Excerpt(std::string_view text) {
  constexpr std::size_t kMax = 200;
  if (text.size() <= kMax) return std::string(text);
  return std::string(text.substr(0, kMax)) + "...";
}

// "code 3000: invalid action [lock] in state [acquired]"
std::string Why(const websocket::close_reason& reason) {
  std::string out = "code " + std::to_string(reason.code);
  if (!reason.reason.empty()) {
    out += ": ";
    out.append(reason.reason.data(), reason.reason.size());
  }
  return out;
}

}  // namespace

Client::Client(net::io_context& ioc, Shared& shared, int number, Role role)
    : CycleClient(ioc, shared, number, role, /*salt=*/{}),
      ws_(strand()),
      session_timer_(strand()) {}

void Client::StartConnect() {
  auto& stream = beast::get_lowest_layer(ws_);
  stream.expires_after(kConnectTimeout);
  stream.async_connect(shared().target.endpoint,
                       [self = shared_from_this()](beast::error_code ec) {
                         self->OnConnect(ec);
                       });
}

void Client::OnConnect(beast::error_code ec) {
  if (ec) {
    Connected(ec);
    return;
  }
  auto& stream = beast::get_lowest_layer(ws_);
  stream.socket().set_option(tcp::no_delay(true), ec);
  // The WebSocket keeps its own timeouts from here on.
  stream.expires_never();
  ws_.set_option(
      websocket::stream_base::timeout::suggested(beast::role_type::client));
  ws_.async_handshake(shared().target.host, shared().target.target,
                      [self = shared_from_this()](beast::error_code ec) {
                        self->Connected(ec);
                      });
}

// After the handshake (or the failed connection); with a session, once its
// frame has come (OnSessionFrame).
void Client::Connected(beast::error_code ec) {
  if (!ec) DoRead();  // its completion runs on the strand, after this
  if (!ec && shared().target.session) {
    session_timer_.expires_after(kConnectTimeout);
    session_timer_.async_wait(
        [self = shared_from_this()](beast::error_code ec) {
          if (!ec && self->state() == State::kConnecting) {
            self->Fail(self->shared().protocol_errors,
                       "no session frame within 10 s");
          }
        });
    return;
  }
  session_timer_.cancel();
  ConnectDone(ec);
}

// {"action":"session","state":"new","session":"TOKEN",...}
void Client::OnSessionFrame(std::string_view text) {
  boost::system::error_code ec;
  const boost::json::value frame = boost::json::parse(text, ec);
  const boost::json::object* o = ec ? nullptr : frame.if_object();
  auto is = [o](std::string_view key, std::string_view value) {
    const boost::json::value* v = o->if_contains(key);
    return v != nullptr && v->is_string() && v->get_string() == value;
  };
  const boost::json::value* token =
      o == nullptr ? nullptr : o->if_contains("session");
  if (o == nullptr || !is("action", "session") || !is("state", "new") ||
      token == nullptr || !token->is_string() || token->get_string().empty()) {
    Fail(shared().protocol_errors, "not a new session: " + Excerpt(text));
    return;
  }
  session_timer_.cancel();
  ConnectDone({});
}

void Client::DoRead() {
  ws_.async_read(
      buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->OnRead(ec);
      });
}

void Client::OnRead(beast::error_code ec) {
  const State s = state();
  if (s == State::kClosing || s == State::kEnded) return;  // expected
  if (ec == websocket::error::closed) {
    Fail(shared().unexpected_closes,
         "closed by the server: " + Why(ws_.reason()));
    return;
  }
  if (ec) {
    Fail(shared().unexpected_closes, "read: " + ec.message());
    return;
  }
  const auto data = buffer_.cdata();
  OnAnswer(
      std::string_view(static_cast<const char*>(data.data()), data.size()));
  buffer_.clear();
  const State now = state();
  if (now != State::kClosing && now != State::kEnded) DoRead();
}

void Client::OnAnswer(std::string_view text) {
  if (state() == State::kConnecting) {
    OnSessionFrame(text);
    return;
  }
  const Clock::time_point now = Clock::now();
  const std::optional<wire::ServerMessage> message =
      wire::ParseServerMessage(text);
  const wire::Answer* answer =
      message ? std::get_if<wire::Answer>(&*message) : nullptr;
  if (answer == nullptr) {
    Fail(shared().protocol_errors, "not an answer: " + Excerpt(text));
    return;
  }
  using wire::Action;
  using wire::ConnState;

  switch (state()) {
    case State::kLocking:
      if (answer->action == Action::kLock &&
          answer->state != ConnState::kReady) {
        set_lock_id(answer->id);
        if (answer->state == ConnState::kAcquired) {
          OnAcquired(now);
        } else {
          SetState(State::kEnqueued);
        }
        return;
      }
      break;
    case State::kEnqueued:
      if (answer->action == Action::kLock &&
          answer->state == ConnState::kAcquired && answer->id == lock_id()) {
        OnAcquired(now);
        return;
      }
      break;
    case State::kReleasing:
      if (answer->action == Action::kRelease &&
          answer->state == ConnState::kReady && answer->id == lock_id()) {
        OnReleased(now);
        return;
      }
      break;
    default:
      break;
  }
  Fail(shared().protocol_errors, "unexpected answer while " +
                                     std::string(Name(state())) + ": " +
                                     Excerpt(text));
}

std::string Client::LockMessage() {
  const Workload& w = shared().workload;
  std::uniform_int_distribution<int> key(0, w.keys - 1);
  std::bernoulli_distribution read(w.read_ratio);
  std::vector<Resource>& lock = resources();
  lock.clear();
  for (int i = 0; i < w.resources; ++i) {
    const std::string name = "k" + std::to_string(key(rng()));
    const Access access = read(rng()) ? Access::kRead : Access::kWrite;
    lock.push_back(Resource{access, Path(w.depth, name)});
  }
  return wire::FormatLock(lock);
}

std::string Client::ReleaseMessage() {
  return std::string(wire::FormatRelease());
}

void Client::DoWrite() {
  ws_.text(true);
  ws_.async_write(
      net::buffer(writing()),
      [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->OnWrite(ec);
      });
}

void Client::SendClose() {
  ws_.async_close(
      websocket::close_code::normal,
      [self = shared_from_this()](beast::error_code) { self->Ended(); });
}

void Client::CloseSocket() {
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().close(ignored);
}

}  // namespace locktopus::bench
