#include "bench/floor_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <iostream>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "server/net/port_file.h"
#include "wire/codec.h"

namespace locktopus::bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
// As in server/net/streams.h: one strand per connection, its type named.
using Strand = net::strand<net::io_context::executor_type>;
using Socket = net::basic_stream_socket<tcp, Strand>;

constexpr std::uint16_t kProtocolErrorCloseCode = 3000;
// As the server reads: the first read of a message asks for little, so
// that the buffer an idle connection keeps is small; the rest in chunks.
constexpr std::size_t kFirstRead = 256;
constexpr std::size_t kReadChunk = 64 * 1024;

// The queue key of a lock's resources: each path's segments, each segment
// with its length, so that different lists never share a key. Reads and
// writes alike.
std::string QueueKey(const std::vector<Resource>& resources) {
  std::string key;
  for (const Resource& r : resources) {
    key += '[';
    for (const std::string& segment : r.path) {
      key += std::to_string(segment.size());
      key += ':';
      key += segment;
    }
    key += ']';
  }
  return key;
}

class FloorSession;

// The serializing floor's table: for each queue key that is locked, the
// sessions in line for it, the holder first. Thread safety: every method
// may be called from any thread (one mutex).
class Lines {
 public:
  // Puts `session` in line for `key`; true if it holds it now.
  bool Join(const std::string& key, const std::shared_ptr<FloorSession>& s) {
    std::lock_guard lock(mu_);
    auto& line = lines_[key];
    line.push_back(s);
    return line.size() == 1;
  }

  // `session` leaves the line for `key`, holding or not. Returns the next
  // holder if it held and another waits, to be told; nullptr otherwise.
  std::shared_ptr<FloorSession> Leave(const std::string& key,
                                      const FloorSession* session) {
    std::lock_guard lock(mu_);
    auto it = lines_.find(key);
    if (it == lines_.end()) return nullptr;
    auto& line = it->second;
    const auto gone = [session](const std::weak_ptr<FloorSession>& w) {
      const auto s = w.lock();
      return s == nullptr || s.get() == session;
    };
    // The holder went if `session` held, or held and vanished unseen.
    const bool held = !line.empty() && gone(line.front());
    line.erase(std::remove_if(line.begin(), line.end(), gone), line.end());
    std::shared_ptr<FloorSession> next;
    if (held && !line.empty()) next = line.front().lock();
    if (line.empty()) lines_.erase(it);
    return next;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::deque<std::weak_ptr<FloorSession>>>
      lines_;
};

class FloorSession : public std::enable_shared_from_this<FloorSession> {
 public:
  // `lines`: the serializing floor's, or nullptr to grant at once.
  FloorSession(Socket socket, std::atomic<std::uint64_t>& ids, Lines* lines)
      : ws_(std::move(socket)), ids_(ids), lines_(lines) {}

  // Its turn has come in the serializing floor (posted to its strand).
  void Granted() {
    if (in_line_) {
      Send(wire::FormatAnswer(
          {lock_id_, wire::Action::kLock, wire::ConnState::kAcquired}));
    }
  }

  // Socket and executor types as in server/net/streams.h (the WebSocket
  // over the bare socket, as the server's plain sessions), TCP_NODELAY
  // included; Beast's suggested server timeouts (the server's keep-alive
  // timer, --keepalive-ms, is idle under load either way).
  void Run() {
    ws_.set_option(
        websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->DoRead();
    });
  }

 private:
  void DoRead() {
    ws_.async_read_some(
        buffer_, buffer_.size() == 0 ? kFirstRead : kReadChunk,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->OnRead(ec);
        });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {  // closed, reset or timed out: the session ends
      LeaveLine();
      return;
    }
    if (!ws_.is_message_done()) {
      DoRead();
      return;
    }
    const auto data = buffer_.cdata();
    const std::string_view frame(static_cast<const char*>(data.data()),
                                 data.size());
    wire::ClientMessage message =
        wire::ParseClientMessage(frame, wire::MessageLimits{});
    buffer_.clear();
    if (buffer_.capacity() > kFirstRead) buffer_.shrink_to_fit();
    if (auto* lock = std::get_if<wire::LockMessage>(&message)) {
      LeaveLine();  // a second lock replaces the first, as nothing checks
      lock_id_ = ids_.fetch_add(1) + 1;
      auto state = wire::ConnState::kAcquired;
      if (lines_ != nullptr) {
        key_ = QueueKey(lock->resources);
        in_line_ = true;
        if (!lines_->Join(key_, shared_from_this())) {
          state = wire::ConnState::kEnqueued;
        }
      }
      Send(wire::FormatAnswer({lock_id_, wire::Action::kLock, state}));
    } else if (std::holds_alternative<wire::ReleaseMessage>(message)) {
      LeaveLine();
      Send(wire::FormatAnswer(
          {lock_id_, wire::Action::kRelease, wire::ConnState::kReady}));
    } else {
      Send(wire::FormatError(std::get<wire::ProtocolError>(message).reason));
      closing_ = true;  // closed once the error is out
    }
    if (!closing_) DoRead();
  }

  // Out of the serializing floor's line, if in one; the next in line is
  // told on its own strand.
  void LeaveLine() {
    if (!in_line_) return;
    in_line_ = false;
    if (auto next = lines_->Leave(key_, this)) {
      net::post(next->ws_.get_executor(), [next] { next->Granted(); });
    }
  }

  void Send(std::string text) {
    queue_.push_back(std::move(text));
    if (queue_.size() == 1) DoWrite();
  }

  void DoWrite() {
    ws_.text(true);
    ws_.async_write(
        net::buffer(queue_.front()),
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->OnWrite(ec);
        });
  }

  void OnWrite(beast::error_code ec) {
    if (ec) return;
    queue_.pop_front();
    if (!queue_.empty()) {
      DoWrite();
    } else if (closing_) {
      ws_.async_close(websocket::close_reason(kProtocolErrorCloseCode),
                      [self = shared_from_this()](beast::error_code) {});
    }
  }

  websocket::stream<Socket> ws_;
  std::atomic<std::uint64_t>& ids_;
  Lines* const lines_;
  beast::flat_buffer buffer_;
  std::list<std::string> queue_;  // as the server's: empty, it costs nothing
  std::uint64_t lock_id_ = 0;
  std::string key_;       // the current lock's queue key, when serializing
  bool in_line_ = false;  // holds key_ or waits for it
  bool closing_ = false;
};

class FloorServer {
 public:
  explicit FloorServer(bool serialize)
      : lines_(serialize ? std::make_unique<Lines>() : nullptr),
        acceptor_(ioc_),
        signals_(ioc_, SIGINT, SIGTERM) {}

  int Run(std::uint16_t port, int threads, const std::string& port_file) {
    const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port);
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      std::cerr << "floor server: cannot listen on 127.0.0.1:" << port << ": "
                << ec.message() << "\n";
      return 1;
    }
    const std::uint16_t bound = acceptor_.local_endpoint().port();
    std::cerr << "listening on 127.0.0.1:" << bound << std::endl;
    if (!port_file.empty() && !server::WritePortFile(port_file, bound)) {
      std::cerr << "floor server: cannot write the port file [" << port_file
                << "]\n";
      return 1;
    }
    signals_.async_wait([this](beast::error_code, int) { ioc_.stop(); });
    DoAccept();

    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back([this] { ioc_.run(); });
    ioc_.run();
    for (auto& t : pool) t.join();
    return 0;
  }

 private:
  void DoAccept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec,
                                                          Socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);  // as the server does
        std::make_shared<FloorSession>(std::move(socket), ids_, lines_.get())
            ->Run();
      }
      DoAccept();
    });
  }

  std::atomic<std::uint64_t> ids_{0};  // outlive every session
  const std::unique_ptr<Lines> lines_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  net::signal_set signals_;
};

}  // namespace

int RunFloorServer(std::uint16_t port, int threads,
                   const std::string& port_file, bool serialize) {
  return FloorServer(serialize).Run(port, threads, port_file);
}

}  // namespace locktopus::bench
