#include "bench/redis_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace locktopus::bench {
namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);
// Bytes read at a time, and the most a reply may take (these are short).
constexpr std::size_t kReadChunk = 4096;
constexpr std::size_t kMaxReply = 64 * 1024;
// redis-py's default: the lock expires if its holder vanishes.
constexpr std::string_view kExpiryMs = "30000";

std::seed_seq SeedFor(std::uint64_t seed, int number) {
  // Apart from the WebSocket clients' seeds, which draw paths.
  return std::seed_seq{static_cast<std::uint32_t>(seed),
                       static_cast<std::uint32_t>(seed >> 32),
                       static_cast<std::uint32_t>(number), 0x7265u};
}

std::string Describe(const resp::Reply& reply) {
  using Kind = resp::Reply::Kind;
  switch (reply.kind) {
    case Kind::kSimple:
      return "+" + reply.text;
    case Kind::kError:
      return "-" + reply.text;
    case Kind::kInteger:
      return ":" + std::to_string(reply.integer);
    case Kind::kBulk:
      return "$" + reply.text.substr(0, 100);
    case Kind::kNull:
      return "(nil)";
  }
  return "?";
}

}  // namespace

RedisClient::RedisClient(net::io_context& ioc, Shared& shared, int number,
                         Role role)
    : shared_(shared),
      number_(number),
      role_(role),
      key_("locktopus-bench:" + std::to_string(number)),
      socket_(net::make_strand(ioc)),
      hold_timer_(socket_.get_executor()),
      connect_timer_(socket_.get_executor()),
      input_(kReadChunk) {
  std::seed_seq seed = SeedFor(shared_.workload.seed, number);
  rng_.seed(seed);
  resources_.push_back(Resource{Access::kWrite, Path{key_}});
}

void RedisClient::Connect(std::function<void(bool)> done) {
  net::post(socket_.get_executor(),
            [self = shared_from_this(), done = std::move(done)]() mutable {
              self->on_connected_ = std::move(done);
              self->connect_timer_.expires_after(kConnectTimeout);
              self->connect_timer_.async_wait([self](beast::error_code ec) {
                if (!ec && self->state() == State::kConnecting) {
                  beast::error_code ignored;
                  self->socket_.close(ignored);  // the pending operation fails
                }
              });
              self->socket_.async_connect(
                  self->shared_.target.endpoint,
                  [self](beast::error_code ec) { self->OnConnect(ec); });
            });
}

void RedisClient::OnConnect(beast::error_code ec) {
  if (ec) {
    Connected(ec);
    return;
  }
  socket_.set_option(tcp::no_delay(true), ec);
  DoRead();
  Send(resp::Command({"SCRIPT", "LOAD", kRedisReleaseScript}));
}

// After the script is loaded (or the connection failed).
void RedisClient::Connected(beast::error_code ec) {
  connect_timer_.cancel();
  auto done = std::move(on_connected_);
  if (ec) {
    shared_.connect_failures.fetch_add(1);
    shared_.Error("client " + std::to_string(number_) +
                  ": cannot connect: " + ec.message());
    beast::error_code ignored;
    socket_.close(ignored);
    SetState(State::kEnded);
  } else {
    SetState(State::kConnected);
  }
  if (done) done(!ec);
}

void RedisClient::Start() {
  net::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->state() == State::kConnected) self->SendLock();
  });
}

void RedisClient::Close() {
  net::post(socket_.get_executor(), [self = shared_from_this()] {
    const State s = self->state();
    if (s == State::kConnecting || s == State::kClosing || s == State::kEnded) {
      return;
    }
    self->DropHold();
    self->SetState(State::kClosing);
    self->Send(resp::Command({"QUIT"}));
  });
}

void RedisClient::Abort() {
  net::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->state() == State::kEnded) return;
    self->DropHold();
    beast::error_code ignored;
    self->socket_.close(ignored);
    self->Ended();
  });
}

void RedisClient::DoRead() {
  if (begin_ == end_) begin_ = end_ = 0;
  if (end_ == input_.size()) {
    if (begin_ > 0) {  // unparsed bytes to the front
      std::copy(input_.begin() + static_cast<std::ptrdiff_t>(begin_),
                input_.begin() + static_cast<std::ptrdiff_t>(end_),
                input_.begin());
      end_ -= begin_;
      begin_ = 0;
    } else if (input_.size() < kMaxReply) {
      input_.resize(input_.size() * 2);
    } else {
      Fail(shared_.protocol_errors,
           "a reply longer than " + std::to_string(kMaxReply) + " bytes");
      return;
    }
  }
  socket_.async_read_some(
      net::buffer(input_.data() + end_, input_.size() - end_),
      [self = shared_from_this()](beast::error_code ec, std::size_t n) {
        self->OnRead(ec, n);
      });
}

void RedisClient::OnRead(beast::error_code ec, std::size_t n) {
  const State s = state();
  if (s == State::kEnded) return;
  if (ec) {
    if (s == State::kClosing) {  // QUIT answered, and the server hung up
      Ended();
      return;
    }
    if (s == State::kConnecting) {
      Connected(ec);
      return;
    }
    Fail(shared_.unexpected_closes, "read: " + ec.message());
    return;
  }
  end_ += n;
  while (begin_ < end_) {
    resp::Reply reply;
    std::size_t used = 0;
    const std::string_view rest(input_.data() + begin_, end_ - begin_);
    const resp::Parse parsed = resp::ParseReply(rest, reply, used);
    if (parsed == resp::Parse::kIncomplete) break;
    if (parsed == resp::Parse::kMalformed) {
      Fail(shared_.protocol_errors,
           "not a RESP reply: " + std::string(rest.substr(0, 100)));
      return;
    }
    begin_ += used;
    OnReply(reply);
    if (state() == State::kEnded) return;
  }
  DoRead();
}

void RedisClient::OnReply(const resp::Reply& reply) {
  using Kind = resp::Reply::Kind;
  const Clock::time_point now = Clock::now();
  switch (state()) {
    case State::kConnecting:
      if (reply.kind == Kind::kBulk) {
        script_sha_ = reply.text;
        Connected({});
        return;
      }
      break;
    case State::kLocking:
      if (reply.kind == Kind::kSimple && reply.text == "OK") {
        OnAcquired(now);
        return;
      }
      if (reply.kind == Kind::kNull) {
        Fail(shared_.protocol_errors, "SET NX refused: key " + key_ +
                                          " is taken, though only this "
                                          "client locks it");
        return;
      }
      break;
    case State::kReleasing:
      if (reply.kind == Kind::kInteger && reply.integer == 1) {
        if (shared_.InWindow(now)) {
          samples_.cycle_ns.push_back((now - lock_sent_).count());
        }
        shared_.CycleDone();
        if (shared_.stopping.load()) {
          SetState(State::kClosing);
          Send(resp::Command({"QUIT"}));
        } else {
          SendLock();
        }
        return;
      }
      if (reply.kind == Kind::kInteger && reply.integer == 0) {
        Fail(shared_.protocol_errors,
             "release found key " + key_ + " gone or taken: the lock expired");
        return;
      }
      break;
    case State::kClosing:
      return;  // +OK to QUIT; the server then closes
    default:
      break;
  }
  Fail(shared_.protocol_errors, "unexpected reply while " +
                                    std::string(Name(state())) + ": " +
                                    Describe(reply));
}

void RedisClient::OnAcquired(Clock::time_point now) {
  if (shared_.InWindow(now)) {
    samples_.acquire_ns.push_back((now - lock_sent_).count());
  }
  SetState(State::kHolding);
  shared_.held.Acquire({number_, cycle_}, resources_);
  if (shared_.workload.hold.count() == 0) {
    // As Client does: the release goes out from a handler of its own.
    net::post(socket_.get_executor(), [self = shared_from_this()] {
      if (self->state() == State::kHolding) self->SendRelease();
    });
    return;
  }
  hold_timer_.expires_after(shared_.workload.hold);
  hold_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec && self->state() == State::kHolding) self->SendRelease();
  });
}

void RedisClient::SendLock() {
  static constexpr char kHex[] = "0123456789abcdef";
  token_.resize(32);
  for (std::size_t i = 0; i < token_.size(); i += 16) {
    std::uint64_t bits = rng_();
    for (std::size_t j = 0; j < 16; ++j, bits >>= 4) {
      token_[i + j] = kHex[bits & 15];
    }
  }
  ++cycle_;
  std::string command =
      resp::Command({"SET", key_, token_, "NX", "PX", kExpiryMs});
  SetState(State::kLocking);
  lock_sent_ = Clock::now();
  Send(std::move(command));
}

void RedisClient::SendRelease() {
  shared_.held.Release({number_, cycle_}, resources_);
  SetState(State::kReleasing);
  Send(resp::Command({"EVALSHA", script_sha_, "1", key_, token_}));
}

void RedisClient::Send(std::string command) {
  outbox_.push_back(std::move(command));
  if (outbox_.size() == 1) DoWrite();
}

void RedisClient::DoWrite() {
  net::async_write(
      socket_, net::buffer(outbox_.front()),
      [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->OnWrite(ec);
      });
}

void RedisClient::OnWrite(beast::error_code ec) {
  if (state() == State::kEnded) return;
  if (ec) {
    Fail(shared_.unexpected_closes, "write: " + ec.message());
    return;
  }
  outbox_.pop_front();
  if (!outbox_.empty()) DoWrite();
}

void RedisClient::Fail(std::atomic<std::uint64_t>& counter,
                       const std::string& why) {
  if (state() == State::kConnecting) {
    // Counted as a failed connection, not as a load error.
    shared_.Error("client " + std::to_string(number_) + ": " + why);
    Connected(net::error::make_error_code(net::error::connection_aborted));
    return;
  }
  counter.fetch_add(1);
  shared_.Error("client " + std::to_string(number_) + ": " + why);
  DropHold();
  beast::error_code ignored;
  socket_.close(ignored);
  Ended();
}

void RedisClient::DropHold() {
  if (state() == State::kHolding) {
    shared_.held.Release({number_, cycle_}, resources_);
  }
  hold_timer_.cancel();
}

void RedisClient::Ended() {
  const State was = state();
  if (was == State::kEnded) return;
  SetState(State::kEnded);
  if (was == State::kConnecting) return;  // never counted as open
  (role_ == Role::kLoad ? shared_.finished_load : shared_.finished_idle)
      .fetch_add(1);
}

}  // namespace locktopus::bench
