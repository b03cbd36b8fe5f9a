#include "bench/redis_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

namespace locktopus::bench {
namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);
// Bytes read at a time, and the most a reply may take (these are short).
constexpr std::size_t kReadChunk = 4096;
constexpr std::size_t kMaxReply = 64 * 1024;
// redis-py's default: the lock expires if its holder vanishes.
constexpr std::string_view kExpiryMs = "30000";

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
    // Salted apart from the WebSocket clients' draws, which pick paths.
    : CycleClient(ioc, shared, number, role, /*salt=*/{0x7265u}),
      key_("locktopus-bench:" + std::to_string(number)),
      socket_(strand()),
      connect_timer_(strand()),
      input_(kReadChunk) {
  resources().push_back(Resource{Access::kWrite, Path{key_}});
}

void RedisClient::StartConnect() {
  connect_timer_.expires_after(kConnectTimeout);
  connect_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec && self->state() == State::kConnecting) {
      beast::error_code ignored;
      self->socket_.close(ignored);  // the pending operation fails
    }
  });
  socket_.async_connect(shared().target.endpoint,
                        [self = shared_from_this()](beast::error_code ec) {
                          self->OnConnect(ec);
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
  ConnectDone(ec);
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
      Fail(shared().protocol_errors,
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
    Fail(shared().unexpected_closes, "read: " + ec.message());
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
      Fail(shared().protocol_errors,
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
        Fail(shared().protocol_errors, "SET NX refused: key " + key_ +
                                           " is taken, though only this "
                                           "client locks it");
        return;
      }
      break;
    case State::kReleasing:
      if (reply.kind == Kind::kInteger && reply.integer == 1) {
        OnReleased(now);
        return;
      }
      if (reply.kind == Kind::kInteger && reply.integer == 0) {
        Fail(shared().protocol_errors,
             "release found key " + key_ + " gone or taken: the lock expired");
        return;
      }
      break;
    case State::kClosing:
      return;  // +OK to QUIT; the server then closes
    default:
      break;
  }
  Fail(shared().protocol_errors, "unexpected reply while " +
                                     std::string(Name(state())) + ": " +
                                     Describe(reply));
}

std::string RedisClient::LockMessage() {
  static constexpr char kHex[] = "0123456789abcdef";
  token_.resize(32);
  for (std::size_t i = 0; i < token_.size(); i += 16) {
    std::uint64_t bits = rng()();
    for (std::size_t j = 0; j < 16; ++j, bits >>= 4) {
      token_[i + j] = kHex[bits & 15];
    }
  }
  set_lock_id(lock_id() + 1);
  return resp::Command({"SET", key_, token_, "NX", "PX", kExpiryMs});
}

std::string RedisClient::ReleaseMessage() {
  return resp::Command({"EVALSHA", script_sha_, "1", key_, token_});
}

void RedisClient::DoWrite() {
  net::async_write(
      socket_, net::buffer(writing()),
      [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->OnWrite(ec);
      });
}

void RedisClient::SendClose() { Send(resp::Command({"QUIT"})); }

void RedisClient::CloseSocket() {
  beast::error_code ignored;
  socket_.close(ignored);
}

}  // namespace locktopus::bench
