#include "bench/client.h"

#include <boost/asio/post.hpp>
#include <boost/beast/websocket.hpp>
#include <iostream>
#include <variant>

#include "wire/codec.h"

namespace locktopus::bench {
namespace websocket = beast::websocket;
namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);

std::seed_seq SeedFor(std::uint64_t seed, int number) {
  return std::seed_seq{static_cast<std::uint32_t>(seed),
                       static_cast<std::uint32_t>(seed >> 32),
                       static_cast<std::uint32_t>(number)};
}

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

void Shared::Error(const std::string& what) {
  MutexLock lock(mu_);
  if (!first_error_.empty()) return;
  first_error_ = what;
  std::cerr << "locktopus-bench: first error: " << what << "\n";
}

std::string Shared::first_error() const {
  MutexLock lock(mu_);
  return first_error_;
}

Client::Client(net::io_context& ioc, Shared& shared, int number, Role role)
    : shared_(shared),
      number_(number),
      role_(role),
      ws_(net::make_strand(ioc)),
      hold_timer_(ws_.get_executor()) {
  std::seed_seq seed = SeedFor(shared_.workload.seed, number);
  rng_.seed(seed);
}

void Client::Connect(std::function<void(bool)> done) {
  net::post(ws_.get_executor(), [self = shared_from_this(),
                                 done = std::move(done)]() mutable {
    self->on_connected_ = std::move(done);
    auto& stream = beast::get_lowest_layer(self->ws_);
    stream.expires_after(kConnectTimeout);
    stream.async_connect(self->shared_.target.endpoint,
                         [self](beast::error_code ec) { self->OnConnect(ec); });
  });
}

void Client::OnConnect(beast::error_code ec) {
  if (!ec) {
    auto& stream = beast::get_lowest_layer(ws_);
    stream.socket().set_option(tcp::no_delay(true), ec);
    // The WebSocket keeps its own timeouts from here on.
    stream.expires_never();
    ws_.set_option(
        websocket::stream_base::timeout::suggested(beast::role_type::client));
    ws_.async_handshake(shared_.target.host, shared_.target.target,
                        [self = shared_from_this()](beast::error_code ec) {
                          self->OnHandshake(ec);
                        });
    return;
  }
  OnHandshake(ec);  // the same failure path
}

void Client::OnHandshake(beast::error_code ec) {
  auto done = std::move(on_connected_);
  if (ec) {
    shared_.connect_failures.fetch_add(1);
    shared_.Error("client " + std::to_string(number_) +
                  ": cannot connect: " + ec.message());
    SetState(State::kEnded);
  } else {
    SetState(State::kConnected);
    DoRead();
  }
  if (done) done(!ec);
}

void Client::Start() {
  net::post(ws_.get_executor(), [self = shared_from_this()] {
    if (self->state() == State::kConnected) self->SendLock();
  });
}

void Client::Close() {
  net::post(ws_.get_executor(), [self = shared_from_this()] {
    const State s = self->state();
    if (s == State::kConnecting || s == State::kClosing || s == State::kEnded) {
      return;
    }
    self->DropHold();
    self->BeginClose();
  });
}

void Client::Abort() {
  net::post(ws_.get_executor(), [self = shared_from_this()] {
    if (self->state() == State::kEnded) return;
    self->DropHold();
    beast::error_code ignored;
    beast::get_lowest_layer(self->ws_).socket().close(ignored);
    self->Ended();
  });
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
    Fail(shared_.unexpected_closes,
         "closed by the server: " + Why(ws_.reason()));
    return;
  }
  if (ec) {
    Fail(shared_.unexpected_closes, "read: " + ec.message());
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
  const Clock::time_point now = Clock::now();
  const std::optional<wire::ServerMessage> message =
      wire::ParseServerMessage(text);
  const wire::Answer* answer =
      message ? std::get_if<wire::Answer>(&*message) : nullptr;
  if (answer == nullptr) {
    Fail(shared_.protocol_errors, "not an answer: " + Excerpt(text));
    return;
  }
  using wire::Action;
  using wire::ConnState;

  switch (state()) {
    case State::kLocking:
      if (answer->action == Action::kLock &&
          answer->state != ConnState::kReady) {
        lock_id_ = answer->id;
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
          answer->state == ConnState::kAcquired && answer->id == lock_id_) {
        OnAcquired(now);
        return;
      }
      break;
    case State::kReleasing:
      if (answer->action == Action::kRelease &&
          answer->state == ConnState::kReady && answer->id == lock_id_) {
        if (shared_.InWindow(now)) {
          samples_.cycle_ns.push_back((now - lock_sent_).count());
          if (was_enqueued_) ++samples_.enqueued;
        }
        shared_.CycleDone();
        if (shared_.stopping.load()) {
          BeginClose();
        } else {
          SendLock();
        }
        return;
      }
      break;
    default:
      break;
  }
  Fail(shared_.protocol_errors, "unexpected answer while " +
                                    std::string(Name(state())) + ": " +
                                    Excerpt(text));
}

void Client::OnAcquired(Clock::time_point now) {
  was_enqueued_ = state() == State::kEnqueued;
  if (shared_.InWindow(now)) {
    samples_.acquire_ns.push_back((now - lock_sent_).count());
  }
  SetState(State::kHolding);
  shared_.held.Acquire({number_, lock_id_}, resources_);
  if (shared_.workload.hold.count() == 0) {
    // Not released in this handler: the handlers already queued run while
    // the lock is held, so that even a one-thread client with no hold time
    // can catch two clients holding at once.
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      if (self->state() == State::kHolding) self->SendRelease();
    });
    return;
  }
  hold_timer_.expires_after(shared_.workload.hold);
  hold_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec && self->state() == State::kHolding) self->SendRelease();
  });
}

void Client::SendLock() {
  const Workload& w = shared_.workload;
  std::uniform_int_distribution<int> key(0, w.keys - 1);
  std::bernoulli_distribution read(w.read_ratio);
  resources_.clear();
  for (int i = 0; i < w.resources; ++i) {
    const std::string name = "k" + std::to_string(key(rng_));
    const Access access = read(rng_) ? Access::kRead : Access::kWrite;
    resources_.push_back(Resource{access, Path(w.depth, name)});
  }
  std::string message = wire::FormatLock(resources_);
  SetState(State::kLocking);
  lock_sent_ = Clock::now();
  Send(std::move(message));
}

void Client::SendRelease() {
  // Out of the shadow before the release can reach the server.
  shared_.held.Release({number_, lock_id_}, resources_);
  SetState(State::kReleasing);
  Send(std::string(wire::FormatRelease()));
}

void Client::Send(std::string text) {
  outbox_.push_back(std::move(text));
  if (outbox_.size() == 1) DoWrite();
}

void Client::DoWrite() {
  ws_.text(true);
  ws_.async_write(
      net::buffer(outbox_.front()),
      [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->OnWrite(ec);
      });
}

void Client::OnWrite(beast::error_code ec) {
  if (state() == State::kEnded) return;
  if (ec) {
    Fail(shared_.unexpected_closes, "write: " + ec.message());
    return;
  }
  outbox_.pop_front();
  if (!outbox_.empty()) {
    DoWrite();
  } else if (close_queued_) {
    DoClose();
  }
}

void Client::BeginClose() {
  SetState(State::kClosing);
  if (outbox_.empty()) {
    DoClose();
  } else {
    close_queued_ = true;
  }
}

void Client::DoClose() {
  close_queued_ = false;
  ws_.async_close(
      websocket::close_code::normal,
      [self = shared_from_this()](beast::error_code) { self->Ended(); });
}

void Client::Fail(std::atomic<std::uint64_t>& counter, const std::string& why) {
  counter.fetch_add(1);
  shared_.Error("client " + std::to_string(number_) + ": " + why);
  DropHold();
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().close(ignored);
  Ended();
}

void Client::DropHold() {
  if (state() == State::kHolding) {
    shared_.held.Release({number_, lock_id_}, resources_);
  }
  hold_timer_.cancel();
}

void Client::Ended() {
  const State was = state();
  if (was == State::kEnded) return;
  SetState(State::kEnded);
  if (was == State::kConnecting) return;  // never counted as open
  (role_ == Role::kLoad ? shared_.finished_load : shared_.finished_idle)
      .fetch_add(1);
}

std::string_view Name(LoadClient::State state) {
  switch (state) {
    case LoadClient::State::kConnecting:
      return "connecting";
    case LoadClient::State::kConnected:
      return "connected";
    case LoadClient::State::kLocking:
      return "locking";
    case LoadClient::State::kEnqueued:
      return "enqueued";
    case LoadClient::State::kHolding:
      return "holding";
    case LoadClient::State::kReleasing:
      return "releasing";
    case LoadClient::State::kClosing:
      return "closing";
    case LoadClient::State::kEnded:
      return "ended";
  }
  return "?";
}

}  // namespace locktopus::bench
