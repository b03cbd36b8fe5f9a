// The WebSocket session template behind ws_session.h, included only by
// its two instantiations: ws_session.cc (plain) and ws_session_tls.cc
// (TLS), which compile in parallel. Beast's WebSocket stream is most of the
// build time of the network shell.

#ifndef LOCKTOPUS_SERVER_NET_WS_SESSION_IMPL_H_
#define LOCKTOPUS_SERVER_NET_WS_SESSION_IMPL_H_

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <list>
#include <optional>
#include <string>

#include "server/core/connection.h"
#include "server/core/log.h"
#include "server/core/session.h"
#include "server/net/ws_session.h"
#include "wire/utf8.h"

namespace locktopus::server::ws_session_internal {
namespace websocket = beast::websocket;

// The close code for a client closed because it does not read its answers
// (RFC 6455: policy violation).
constexpr std::uint16_t kSlowClientCloseCode = 1008;
// Bytes read at a time; a message is refused once it outgrows the limit.
// The first read of a message asks for kFirstRead bytes only: the buffer is
// allocated to fit what is asked for, and a connection waiting for its next
// message keeps it. A lock request on a short path fits in it.
constexpr std::size_t kFirstRead = 256;
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;

// Where the transport is. One at a time:
//   kReading  a read is pending (or a frame is being handled); frames may be
//             written.
//   kPaused   back-pressure: --max-write-queue answers wait, no read is
//             pending until half are written; the stall timer runs.
//   kClosing  a close is queued behind the pending frames (nothing more is
//             read; Send is a no-op); the close timer runs.
//   kDropped  the socket is closed; Ended is posted; nothing more is sent.
//   kEnded    Ended has run: the connection's lock went down the drop path.
// Moves: kReading <-> kPaused; kReading, kPaused -> kClosing; any but kEnded
// -> kDropped; any -> kEnded. Nothing leaves kEnded.
enum class Transport { kReading, kPaused, kClosing, kDropped, kEnded };

// S is PlainSocket or TlsStream (its handshake done).
template <class S>
class WebSocketSession final
    : public SessionTransport,
      public Closable,
      public std::enable_shared_from_this<WebSocketSession<S>> {
  using std::enable_shared_from_this<WebSocketSession<S>>::shared_from_this;
  using std::enable_shared_from_this<WebSocketSession<S>>::weak_from_this;

 public:
  WebSocketSession(S stream, LockRoute route,
                   std::unique_ptr<ConnectionSlot> slot,
                   std::shared_ptr<ServerState> state)
      : ws_(std::move(stream)),
        route_(std::move(route)),
        slot_(std::move(slot)),
        state_(std::move(state)),
        client_(state_->next_client.fetch_add(1) + 1) {
    config_.limits = state_->config.message_limits;
    config_.log_locks = state_->config.log_locks;
    config_.draining = &state_->draining;
    config_.metrics = &state_->metrics;
    config_.gate = state_->gate.get();
    config_.abandon_timeout =
        std::chrono::milliseconds(route_.abandon_timeout_ms.value_or(
            state_->config.default_abandon_timeout_ms));
    config_.log_clients = state_->config.log_clients;
  }

  void Run(Request request) {
    config_.holder = std::make_shared<const HolderInfo>(
        HolderInfo{.client_name = route_.client_name,
                   .connection = client_,
                   .peer = Peer(beast::get_lowest_layer(ws_))});
    // A session's connection is found or made once the handshake is done
    // (OpenSession).
    if (!route_.session) {
      connection_.emplace(state_->locks->Open(route_.ns), config_, *this,
                          weak_from_this());
    }
    WatchIdle(true);
    ws_.set_option(
        websocket::stream_base::decorator([](websocket::response_type& res) {
          res.set(http::field::server, "locktopus");
        }));
    // Our own limit applies, with our own error (see DoRead).
    ws_.read_message_max(0);
    ws_.async_accept(request,
                     [self = shared_from_this()](beast::error_code ec) {
                       self->OnAccept(ec);
                     });
  }

  // LockHolder: called on any thread, outside every mutex.
  void Notify(LockId id) override {
    net::post(ws_.get_executor(), [self = shared_from_this(), id] {
      if (self->session_) {
        self->session_->OnAcquired(self.get(), id);
      } else {
        self->connection_->OnAcquired(id);
      }
    });
  }
  void ForceReleased(LockId id) override {
    net::post(ws_.get_executor(), [self = shared_from_this(), id] {
      if (self->session_) {
        self->session_->OnForceReleased(self.get(), id);
      } else {
        self->connection_->OnForceReleased(id);
      }
    });
  }

  // ConnectionIo: called on this session's strand.
  void Send(std::string text) override { Queue({std::move(text), false}); }
  void SendGrant(std::string text) override { Queue({std::move(text), true}); }
  ha::Time Now() override { return ha::Clock::now(); }

  void Close(std::uint16_t code, std::string_view reason) override {
    // The queued frames, the close frame and the client's answer must get
    // through within the handshake timeout.
    CloseWithin(code, reason,
                std::chrono::milliseconds(state_->config.handshake_timeout_ms));
  }

  // A client that does not complete the close within `within` is dropped.
  void CloseWithin(std::uint16_t code, std::string_view reason,
                   std::chrono::milliseconds within) {
    if (!Open()) return;
    transport_ = Transport::kClosing;
    // A close reason fits in a control frame: at most 123 bytes.
    close_reason_.code = code;
    const std::string_view fits =
        wire::TruncateUtf8(reason, close_reason_.reason.max_size());
    close_reason_.reason.assign(fits.data(), fits.size());
    close_timer_.expires_after(within);
    close_timer_.async_wait(
        [self = shared_from_this(), within](beast::error_code ec) {
          if (ec || self->transport_ == Transport::kEnded) return;
          self->Drop("the close did not complete within " +
                     std::to_string(within.count()) + " ms");
        });
    if (queue_.empty()) DoClose();
  }

  // Closable: called on any thread.
  void CloseSoon(std::uint16_t code, std::string reason) override {
    net::post(ws_.get_executor(),
              [self = shared_from_this(), code, reason = std::move(reason)] {
                self->Close(code, reason);
              });
  }

  void After(std::chrono::milliseconds delay,
             std::function<void()> fn) override {
    // Holds only the timer and `fn`: the session may end meanwhile.
    auto timer = std::make_shared<net::steady_timer>(ws_.get_executor(), delay);
    timer->async_wait([timer, fn = std::move(fn)](beast::error_code ec) {
      if (!ec) fn();
    });
  }

 private:
  // Frames may still be queued and written.
  bool Open() const {
    return transport_ == Transport::kReading ||
           transport_ == Transport::kPaused;
  }

  void OnAccept(beast::error_code ec) {
    if (ec) {
      Ended("handshake failed: " + ec.message());
      return;
    }
    registered_ = state_->sessions.Add(weak_from_this());
    // A fence or a resign that closed every registered session while this
    // handshake was under way missed this one: look again, now that a
    // later CloseAll cannot miss it.
    if (const ha::Role role = state_->role.load(); !ha::TakesClients(role)) {
      Close(1012, "not the active server any more (" +
                      std::string(ha::Name(role)) + ")");
      return;
    }
    Increment(state_->metrics.connections_accepted);
    if (state_->config.log_clients) {
      LogInfo(LogName(*config_.holder) + " connected from " +
              config_.holder->peer + " to namespace [" + route_.ns +
              "], abandon timeout " +
              std::to_string(config_.abandon_timeout.count()) + " ms");
    }
    if (route_.session && !OpenSession()) return;
    DoRead();
  }

  // Opens or resumes the session the route names; false, having closed the
  // connection, if it cannot: a resume of no live session (4410), or a new
  // one past --max-sessions (1013).
  bool OpenSession() {
    SessionTable& table = *state_->client_sessions;
    if (*route_.session == kNewSession) {
      session_ = table.Create(state_->locks->Open(route_.ns), config_);
      if (session_ == nullptr) {
        const std::string reason =
            "too many sessions: " +
            wire::OverLimit("max-sessions", table.limit()) +
            "; try again later";
        Send(wire::FormatError(reason));
        Close(kTryAgainLaterCloseCode, "try again later");
        return false;
      }
    } else {
      session_ = table.Find(*route_.session, route_.ns,
                            PeerAddress(config_.holder->peer));
    }
    if (session_ == nullptr ||
        !session_->Attach(shared_from_this(), config_.holder)) {
      session_.reset();
      if (state_->config.log_clients) {
        LogInfo(LogName(*config_.holder) +
                ": no live session of its token: closing it with 4410");
      }
      Send(wire::FormatError(kSessionGoneReason));
      Close(kSessionGoneCloseCode, kSessionGoneReason);
      return false;
    }
    return true;
  }

  void DoRead() {
    ws_.async_read_some(
        buffer_, buffer_.size() == 0 ? kFirstRead : kReadChunk,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->OnRead(ec);
        });
  }

  void OnRead(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      Ended("no answer to keep-alive pings for " +
            std::to_string(2 * state_->config.keepalive_ms) + " ms");
      return;
    }
    if (ec) {
      Ended(ec == websocket::error::closed ? "closed by client"
                                           : "read: " + ec.message());
      return;
    }
    const std::size_t limit = config_.limits.max_message_bytes;
    if (buffer_.size() > limit) {
      if (session_) {
        session_->OnOversizedFrame(this, buffer_.size());
      } else {
        connection_->OnOversizedFrame(buffer_.size());
      }
    } else if (ws_.is_message_done()) {
      const auto data = buffer_.cdata();
      const std::string_view text(static_cast<const char*>(data.data()),
                                  data.size());
      if (session_) {
        session_->OnFrame(this, text);
      } else {
        connection_->OnFrame(text);
      }
      buffer_.clear();
      // A long message's buffer goes with it.
      if (buffer_.capacity() > kFirstRead) buffer_.shrink_to_fit();
    }
    if (transport_ != Transport::kReading) return;  // closing, or gone
    if (queue_.size() >= state_->config.max_write_queue) {
      transport_ = Transport::kPaused;
      WatchIdle(false);
      WatchStall();
    } else {
      DoRead();
    }
  }

  // While reading: a peer silent for --keepalive-ms is pinged; if nothing at
  // all comes back within another --keepalive-ms, the pending read fails
  // with beast::error::timeout and the connection goes down the drop path.
  // While paused the server reads nothing by choice, so Beast's idle timeout
  // would judge the server's silence, not the peer's, and race the stall
  // watch below: it is off, and the stall watch alone judges the peer.
  void WatchIdle(bool on) {
    const std::chrono::milliseconds keepalive(state_->config.keepalive_ms);
    ws_.set_option(websocket::stream_base::timeout{
        .handshake_timeout =
            std::chrono::milliseconds(state_->config.handshake_timeout_ms),
        .idle_timeout = on ? 2 * keepalive : websocket::stream_base::none(),
        .keep_alive_pings = true,
    });
  }

  // Back-pressure (kPaused): no more requests are read until the client has
  // read half of its queued answers. One that reads none of them for a
  // keep-alive interval is closed.
  void WatchStall() {
    const std::uint64_t written = frames_written_;
    stall_timer_.expires_after(
        std::chrono::milliseconds(state_->config.keepalive_ms));
    stall_timer_.async_wait(
        [self = shared_from_this(), written](beast::error_code ec) {
          if (ec || self->transport_ != Transport::kPaused) return;
          if (self->frames_written_ == written) {
            self->Stalled();
          } else {
            self->WatchStall();  // slow, but reading: wait on
          }
        });
  }

  void ResumeReading() {
    transport_ = Transport::kReading;
    stall_timer_.cancel();
    WatchIdle(true);  // the read below arms it again
    DoRead();
  }

  // A paused client that does not read its answers. Its socket buffer is
  // full, so the close frame most likely never gets out: it has one more
  // keep-alive interval to read its way to it, then it is dropped.
  void Stalled() {
    LogWarning(
        "client " + std::to_string(client_) + ": " +
        std::to_string(queue_.size()) + " answers queued (max-write-queue " +
        std::to_string(state_->config.max_write_queue) +
        ") and none read for " + std::to_string(state_->config.keepalive_ms) +
        " ms: it does not read its answers; closing it");
    CloseWithin(kSlowClientCloseCode,
                "write queue full: the client does not read its answers",
                std::chrono::milliseconds(state_->config.keepalive_ms));
  }

  // A frame to write; `grant`: an `acquired` frame, written only while the
  // gate grants. With replication, `commit`: the log position it waits for
  // (ha/commit_gate.h), read when it was queued.
  struct Frame {
    std::string text;
    bool grant = false;
    ha::Position commit = 0;
  };

  void Queue(Frame frame) {
    if (!Open()) return;
    // Bounded without a check here: reading pauses once --max-write-queue
    // frames wait (see OnRead), and one frame read adds at most one answer
    // and one acquisition notice.
    if (state_->commit) frame.commit = state_->commit->Tag();
    queue_.push_back(std::move(frame));
    if (queue_.size() == 1) DoWrite();
  }

  void DoWrite() {
    // With replication: nothing reaches the client before the standbys the
    // active waits for hold every change logged before it was queued.
    ha::CommitGate* commit = state_->commit.get();
    if (commit != nullptr && !commit->IsCommitted(queue_.front().commit)) {
      commit->WhenCommitted(queue_.front().commit, [self = shared_from_this()] {
        net::post(self->ws_.get_executor(), [self] {
          if (self->transport_ == Transport::kDropped ||
              self->transport_ == Transport::kEnded || self->queue_.empty()) {
            return;
          }
          self->DoWrite();
        });
      });
      return;
    }
    const ha::GrantGate* gate = state_->gate.get();
    if (queue_.front().grant && gate != nullptr &&
        !gate->Granting(ha::Clock::now())) {
      // Queued in the window, but its turn came after it (a slow reader, a
      // pause): the client must never hear of it.
      Drop("the grant window passed before an acquisition was written");
      return;
    }
    ws_.text(true);
    ws_.async_write(
        net::buffer(queue_.front().text),
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->OnWrite(ec);
        });
  }

  void OnWrite(beast::error_code ec) {
    if (transport_ == Transport::kDropped || transport_ == Transport::kEnded) {
      return;  // nothing more is sent
    }
    if (ec) {
      if (transport_ == Transport::kPaused) {
        LogWarning(
            "client " + std::to_string(client_) +
            ": write failed while its answers wait unread: " + ec.message());
      }
      Drop("write: " + ec.message());
      return;
    }
    queue_.pop_front();
    ++frames_written_;
    if (transport_ == Transport::kPaused &&
        queue_.size() <= state_->config.max_write_queue / 2) {
      ResumeReading();
    }
    if (!queue_.empty()) {
      DoWrite();
    } else if (transport_ == Transport::kClosing) {
      DoClose();
    }
  }

  void DoClose() {
    ws_.async_close(
        close_reason_, [self = shared_from_this()](beast::error_code ec) {
          self->Ended(ec ? "closed: " + ec.message() : "closed by server");
        });
  }

  // Ends the connection at once, without a closing handshake. Ended runs
  // whether or not a read is pending to notice the closed socket.
  void Drop(std::string why) {
    if (transport_ == Transport::kDropped || transport_ == Transport::kEnded) {
      return;
    }
    transport_ = Transport::kDropped;
    // The queue's front may be the buffer of a pending write: it stays
    // until the session goes; nothing more is sent once dropped.
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    net::post(ws_.get_executor(), [self = shared_from_this(),
                                   why = std::move(why)] { self->Ended(why); });
  }

  // The transport is over; the connection's lock goes down the drop path.
  void Ended(const std::string& why) {
    if (transport_ == Transport::kEnded) return;
    transport_ = Transport::kEnded;
    close_timer_.cancel();
    stall_timer_.cancel();
    if (registered_) state_->sessions.Remove(*registered_);
    if (session_) {
      session_->OnClosed(this);
    } else if (connection_) {
      connection_->OnClosed();
    }
    if (state_->config.log_clients) {
      LogInfo("client " + std::to_string(client_) + " disconnected: " + why);
    }
  }

  websocket::stream<S> ws_;
  const LockRoute route_;
  const std::unique_ptr<ConnectionSlot> slot_;
  const std::shared_ptr<ServerState> state_;
  const std::uint64_t client_;
  ConnectionConfig config_;
  std::optional<Connection> connection_;    // a plain connection's
  std::shared_ptr<ClientSession> session_;  // a session's, once open
  beast::flat_buffer buffer_;
  // Frames to send, the front one being written. A list: a deque allocates
  // ~600 bytes as soon as it exists, which every idle connection paid for.
  std::list<Frame> queue_;
  websocket::close_reason close_reason_;
  net::steady_timer close_timer_{ws_.get_executor()};
  net::steady_timer stall_timer_{ws_.get_executor()};
  std::uint64_t frames_written_ = 0;
  Transport transport_ = Transport::kReading;
  std::optional<SessionRegistry::Token> registered_;  // once open
};

template <class S>
void StartSession(S stream, Request request, LockRoute route,
                  std::unique_ptr<ConnectionSlot> slot,
                  std::shared_ptr<ServerState> state) {
  std::make_shared<WebSocketSession<S>>(std::move(stream), std::move(route),
                                        std::move(slot), std::move(state))
      ->Run(std::move(request));
}

}  // namespace locktopus::server::ws_session_internal

#endif  // LOCKTOPUS_SERVER_NET_WS_SESSION_IMPL_H_
