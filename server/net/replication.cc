#include "server/net/replication.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/url/url.hpp>
#include <deque>
#include <functional>
#include <map>

#include "server/core/ha/replicator.h"
#include "server/core/ha/stream.h"
#include "server/core/log.h"

namespace locktopus::server {
namespace {

namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using std::chrono::milliseconds;

// Changes kept past what every stream was sent: a standby back from a blip
// within them catches up without a snapshot.
constexpr std::size_t kKeep = 4096;
// A standby's wait before it connects again, doubling up to the longest.
constexpr milliseconds kRetryFirst(100);
constexpr milliseconds kRetryLongest(1000);
// Both ends ping when a stream is quiet, and drop one silent for this long:
// a cut without a FIN is noticed without waiting for the ack bound.
constexpr std::chrono::seconds kIdle(2);

// What a stream tells its owner, on the stream's strand.
struct LinkEvents {
  std::function<void()> opened;                        // handshake done
  std::function<void(std::string_view)> message;       // one message
  std::function<void(const std::string& why)> closed;  // once, at the end
};

// One replication WebSocket, either end.
class Link {
 public:
  virtual ~Link() = default;
  // Both from any thread; nothing is sent once closed.
  virtual void Send(std::string text) = 0;
  virtual void Close(std::string why) = 0;
};

template <class S>
class PeerLink final : public Link,
                       public std::enable_shared_from_this<PeerLink<S>> {
 public:
  PeerLink(S stream, LinkEvents events)
      : ws_(std::move(stream)), events_(std::move(events)) {}

  // The active's end: answers the upgrade.
  void Accept(Request request) {
    Configure(beast::role_type::server);
    ws_.async_accept(request, [self = this->shared_from_this()](
                                  beast::error_code ec) { self->Opened(ec); });
  }
  // The standby's end: the handshake, with the peer token.
  void Handshake(const std::string& host, const std::string& target,
                 const std::string& token) {
    Configure(beast::role_type::client);
    ws_.set_option(websocket::stream_base::decorator(
        [token](websocket::request_type& req) {
          req.set(http::field::authorization, "Bearer " + token);
        }));
    ws_.async_handshake(
        host, target, [self = this->shared_from_this()](beast::error_code ec) {
          self->Opened(ec);
        });
  }

  void Send(std::string text) override {
    net::post(ws_.get_executor(), [self = this->shared_from_this(),
                                   text = std::move(text)]() mutable {
      if (self->ended_) return;
      self->out_.push_back(std::move(text));
      if (self->out_.size() == 1) self->Write();
    });
  }
  void Close(std::string why) override {
    net::post(ws_.get_executor(), [self = this->shared_from_this(),
                                   why = std::move(why)] { self->End(why); });
  }

 private:
  void Configure(beast::role_type role) {
    websocket::stream_base::timeout timeout =
        websocket::stream_base::timeout::suggested(role);
    timeout.handshake_timeout = std::chrono::seconds(5);
    timeout.idle_timeout = kIdle;
    timeout.keep_alive_pings = true;
    ws_.set_option(timeout);
    ws_.read_message_max(ha::kMaxMessageBytes);
  }
  void Opened(beast::error_code ec) {
    if (ec) return End("handshake: " + ec.message());
    if (events_.opened) events_.opened();
    Read();
  }
  void Read() {
    ws_.async_read(buffer_, [self = this->shared_from_this()](
                                beast::error_code ec, std::size_t) {
      if (ec) return self->End(ec.message());
      const std::string text = beast::buffers_to_string(self->buffer_.data());
      self->buffer_.consume(self->buffer_.size());
      if (self->ended_) return;
      if (self->events_.message) self->events_.message(text);
      self->Read();
    });
  }
  void Write() {
    ws_.text(true);
    ws_.async_write(
        net::buffer(out_.front()),
        [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
          if (self->ended_) return;
          if (ec) return self->End("write: " + ec.message());
          self->out_.pop_front();
          if (!self->out_.empty()) self->Write();
        });
  }
  void End(const std::string& why) {
    if (ended_) return;
    ended_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    LinkEvents events = std::move(events_);
    events_ = {};
    if (events.closed) events.closed(why);
  }

  websocket::stream<S> ws_;
  LinkEvents events_;
  beast::flat_buffer buffer_;
  std::deque<std::string> out_;  // the front one being written
  bool ended_ = false;
};

class ReplicationImpl final
    : public Replication,
      public ha::Replicator::Io,
      public std::enable_shared_from_this<ReplicationImpl> {
 public:
  ReplicationImpl(Strand strand, std::shared_ptr<ServerState> state,
                  std::string self, std::string log_prefix)
      : strand_(std::move(strand)),
        state_(std::move(state)),
        log_(*state_->change_log),
        self_(std::move(self)),
        log_prefix_(std::move(log_prefix)) {}

  // Every append asks for one flush; appends before it runs ride along.
  void Listen() {
    log_.OnAppend([weak = weak_from_this(), pending = flush_pending_] {
      if (pending->exchange(true)) return;
      if (auto self = weak.lock()) {
        net::post(self->strand_, [self] { self->Flush(); });
      }
    });
  }

  // ---- standby ------------------------------------------------------------

  void SetRevision(std::int64_t revision) override { revision_ = revision; }

  void Follow(const std::string& leader, std::int64_t epoch) override {
    if (frozen_) return;
    leader_ = leader;
    leader_epoch_ = epoch;
    ++generation_;
    if (link_) link_->Close("another active leads");
    link_.reset();
    retry_ = kRetryFirst;
    Connect(generation_);
  }

  void Freeze() override {
    frozen_ = true;
    follower_.Freeze();
    ++generation_;
    if (link_) link_->Close("elected");
    link_.reset();
  }

  bool Whole(std::int64_t epoch) override { return follower_.Whole(epoch); }
  ha::Replica Take() override { return follower_.Take(); }

  // ---- active -------------------------------------------------------------

  void Activate(ha::Node& node, std::int64_t epoch) override {
    if (replicator_) return;
    node_ = &node;
    epoch_ = epoch;
    replicator_ = std::make_unique<ha::Replicator>(
        milliseconds(state_->config.ha_ack_timeout_ms), *this);
    LogInfo(log_prefix_ + "taking standbys' replication streams (epoch " +
            std::to_string(epoch_) + ")");
  }

  void Stop() override {
    ++stops_;
    ++generation_;
    if (link_) link_->Close("stopping");
    link_.reset();
    for (auto& [id, stream] : streams_) stream.link->Close("stopping");
    streams_.clear();
    replicator_.reset();
  }

  // A stream /replicate_v1 upgraded, on its own strand.
  template <class S>
  void Accept(S stream, Request request, ReplicateRoute route) {
    auto holder = std::make_shared<std::shared_ptr<Link>>();
    auto weak = weak_from_this();
    const ha::FollowerId id = next_id_.fetch_add(1) + 1;
    auto link = std::make_shared<PeerLink<S>>(
        std::move(stream),
        LinkEvents{
            .opened =
                [weak, holder, id, route] {
                  if (auto self = weak.lock()) {
                    net::post(self->strand_, [self, holder, id, route] {
                      self->Opened(id, *holder, route);
                    });
                  }
                },
            .message =
                [weak, holder, id](std::string_view text) {
                  auto self = weak.lock();
                  if (!self) return;
                  const std::optional<ha::Position> ack = ha::ParseAck(text);
                  if (!ack) return (*holder)->Close("not an acknowledgement");
                  net::post(self->strand_, [self, id, p = *ack] {
                    if (self->replicator_) self->replicator_->Acked(id, p);
                  });
                },
            .closed =
                [weak, id, member = route.member](const std::string& why) {
                  if (auto self = weak.lock()) {
                    net::post(self->strand_, [self, id, member, why] {
                      self->StreamClosed(id, member, why);
                    });
                  }
                }});
    *holder = link;
    link->Accept(std::move(request));
  }

  // ---- Replicator::Io, on the strand ---------------------------------------

  ha::Time Now() override { return ha::Clock::now(); }
  void After(ha::Clock::duration delay, std::function<void()> fn) override {
    auto timer =
        std::make_shared<net::basic_waitable_timer<ha::Clock>>(strand_, delay);
    // A timer of a replicator that Stop has destroyed must not run.
    timer->async_wait([timer, fn = std::move(fn), weak = weak_from_this(),
                       stops = stops_](beast::error_code ec) {
      const auto self = weak.lock();
      if (!ec && self && stops == self->stops_) fn();
    });
  }
  ha::Position LogEnd() override { return log_.last(); }
  void SetInSync(
      std::vector<ha::Member> standbys,
      std::function<void(const std::vector<ha::Member>&)> written) override {
    std::string names;
    for (const ha::Member& m : standbys) names += " " + m.name;
    LogInfo(log_prefix_ + "in-sync standbys becoming [" +
            (names.empty() ? std::string() : names.substr(1)) + "]");
    node_->SetInSync(std::move(standbys),
                     [weak = weak_from_this(), written = std::move(written)](
                         const std::vector<ha::Member>& members) {
                       if (auto self = weak.lock()) {
                         self->state_->metrics.in_sync_standbys.store(
                             members.empty() ? 0 : members.size() - 1);
                       }
                       written(members);
                     });
  }
  void Committed(ha::Position position) override {
    state_->commit->Advance(position);
  }
  void Drop(ha::FollowerId follower, const std::string& why) override {
    const auto it = streams_.find(follower);
    if (it == streams_.end()) return;
    LogWarning(log_prefix_ + "standby " + it->second.member +
               " dropped: " + why);
    Increment(state_->metrics.standbys_dropped);
    it->second.link->Close(why);
  }

 private:
  struct Outbound {
    std::shared_ptr<Link> link;
    std::string member;
    ha::Position sent = 0;
  };

  // A standby's stream is open: a catch-up if it followed this epoch and
  // the log still has what it lacks, else a snapshot.
  void Opened(ha::FollowerId id, const std::shared_ptr<Link>& link,
              const ReplicateRoute& route) {
    if (!replicator_) return link->Close("not taking standbys");
    std::vector<std::string> messages;
    ha::Position at = 0;
    std::optional<std::vector<ha::Change>> changes;
    if (route.epoch == epoch_ && route.from > 0)
      changes = log_.From(route.from);
    if (changes) {
      at = route.from - 1;
      messages = ha::FormatChanges(epoch_, route.from, *changes);
      streams_[id] = {link, route.member, at + changes->size()};
    } else {
      const ha::Snapshot snapshot = log_.Snapshot();
      at = snapshot.position;
      messages = ha::FormatSnapshot(epoch_, snapshot);
      streams_[id] = {link, route.member, at};
    }
    LogInfo(log_prefix_ + "standby " + route.member + " joined at " +
            std::to_string(at) + (changes ? " (catching up)" : " (snapshot)"));
    replicator_->Opened(id, {.name = route.member, .revision = route.revision},
                        at);
    for (std::string& m : messages) link->Send(std::move(m));
  }

  void StreamClosed(ha::FollowerId id, const std::string& member,
                    const std::string& why) {
    if (streams_.erase(id) == 0) return;
    LogInfo(log_prefix_ + "standby " + member + "'s stream ended: " + why);
    if (replicator_) replicator_->Closed(id);
  }

  // Sends what was appended since the last flush to every stream, then
  // keeps only a tail of what every stream has.
  void Flush() {
    flush_pending_->store(false);
    ha::Position sent_all = log_.last();
    if (replicator_) {
      for (auto& [id, stream] : streams_) {
        std::optional<std::vector<ha::Change>> changes =
            log_.From(stream.sent + 1);
        if (!changes) {
          stream.link->Close("behind the log");
          continue;
        }
        if (!changes->empty()) {
          for (std::string& m :
               ha::FormatChanges(epoch_, stream.sent + 1, *changes)) {
            stream.link->Send(std::move(m));
          }
          stream.sent += changes->size();
        }
        sent_all = std::min(sent_all, stream.sent);
      }
      replicator_->Appended(sent_all);
    }
    if (sent_all > kKeep) log_.Trim(sent_all - kKeep);
  }

  // ---- the standby's stream ------------------------------------------------

  void Connect(std::uint64_t generation) {
    if (generation != generation_ || frozen_ || leader_.empty()) return;
    const std::optional<ha::Position> from = follower_.Begin(leader_epoch_);
    if (!from) return;
    const std::size_t colon = leader_.rfind(':');
    const std::string host = leader_.substr(0, colon);
    const std::string port =
        colon == std::string::npos ? "80" : leader_.substr(colon + 1);
    boost::urls::url target("/replicate_v1");
    target.params().append({"member", self_});
    target.params().append({"revision", std::to_string(revision_)});
    target.params().append({"epoch", std::to_string(leader_epoch_)});
    target.params().append({"from", std::to_string(*from)});
    auto resolver = std::make_shared<tcp::resolver>(strand_);
    resolver->async_resolve(
        host, port,
        [self = shared_from_this(), resolver, generation, host,
         target = std::string(target.buffer())](
            beast::error_code ec, tcp::resolver::results_type results) {
          if (ec) return self->Retry(generation, "resolve: " + ec.message());
          self->Dial(generation, host, target, results);
        });
  }

  void Dial(std::uint64_t generation, const std::string& host,
            const std::string& target,
            const tcp::resolver::results_type& results) {
    auto events = LinkEvents{
        .opened =
            [weak = weak_from_this(), generation] {
              if (auto self = weak.lock()) {
                net::post(self->strand_, [self, generation] {
                  if (generation == self->generation_) {
                    self->retry_ = kRetryFirst;
                    self->last_failure_.clear();
                    LogInfo(self->log_prefix_ + "replicating from " +
                            self->leader_ + " (epoch " +
                            std::to_string(self->leader_epoch_) + ")");
                  }
                });
              }
            },
        .message = nullptr,
        .closed =
            [weak = weak_from_this(), generation](const std::string& why) {
              if (auto self = weak.lock()) {
                net::post(self->strand_, [self, generation, why] {
                  self->Retry(generation, why);
                });
              }
            }};
    Strand strand = net::make_strand(strand_.get_inner_executor());
    if (state_->config.tls()) {
      if (!client_tls_) client_tls_ = MakeClientTls();
      auto stream = std::make_shared<TlsStream>(Stream(strand), *client_tls_);
      SSL_set_tlsext_host_name(stream->native_handle(), host.c_str());
      stream->set_verify_callback(ssl::host_name_verification(host));
      beast::get_lowest_layer(*stream).expires_after(std::chrono::seconds(5));
      beast::get_lowest_layer(*stream).async_connect(
          results,
          [self = shared_from_this(), stream, generation, host, target, events](
              beast::error_code ec, const tcp::endpoint&) mutable {
            if (ec) return self->Retry(generation, "connect: " + ec.message());
            stream->async_handshake(
                ssl::stream_base::client,
                [self, stream, generation, host, target,
                 events](beast::error_code ec) mutable {
                  if (ec) {
                    return self->Retry(generation, "TLS: " + ec.message());
                  }
                  beast::get_lowest_layer(*stream).expires_never();
                  self->Open(generation, std::move(*stream), host, target,
                             std::move(events));
                });
          });
      return;
    }
    auto socket = std::make_shared<Socket>(strand);
    net::async_connect(
        *socket, results,
        [self = shared_from_this(), socket, generation, host, target, events](
            beast::error_code ec, const tcp::endpoint&) mutable {
          if (ec) return self->Retry(generation, "connect: " + ec.message());
          self->Open(generation, PlainSocket(std::move(*socket)), host, target,
                     std::move(events));
        });
  }

  // Connected: the WebSocket handshake, then every message to the follower.
  template <class S>
  void Open(std::uint64_t generation, S stream, const std::string& host,
            const std::string& target, LinkEvents events) {
    if (generation != generation_ || frozen_) return;
    auto holder = std::make_shared<std::weak_ptr<Link>>();
    events.message = [weak = weak_from_this(), holder](std::string_view text) {
      auto self = weak.lock();
      auto link = holder->lock();
      if (!self || !link) return;
      ha::Follower::Answer answer = self->follower_.OnMessage(text);
      if (!answer.error.empty()) return link->Close(answer.error);
      if (answer.ack) link->Send(ha::FormatAck(*answer.ack));
    };
    auto link =
        std::make_shared<PeerLink<S>>(std::move(stream), std::move(events));
    *holder = link;
    link_ = link;
    link->Handshake(host, target, state_->peer_token);
  }

  void Retry(std::uint64_t generation, const std::string& why) {
    if (generation != generation_ || frozen_) return;
    link_.reset();
    // Once per reason in a row: an active in its grace declines every try.
    if (why != last_failure_) {
      LogWarning(log_prefix_ + "replication from " + leader_ + ": " + why +
                 "; trying again every " + std::to_string(retry_.count()) +
                 " to " + std::to_string(kRetryLongest.count()) + " ms");
      last_failure_ = why;
    }
    After(retry_, [self = shared_from_this(), generation] {
      self->Connect(generation);
    });
    retry_ = std::min(retry_ * 2, kRetryLongest);
  }

  std::unique_ptr<ssl::context> MakeClientTls() {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ctx->set_verify_mode(ssl::verify_peer);
    // The servers of a group share a certificate, or one CA whose chain
    // the certificate file carries: it is what a peer must present.
    beast::error_code ec;
    ctx->load_verify_file(state_->config.tls_cert, ec);
    if (ec) {
      LogError(log_prefix_ + "cannot trust [" + state_->config.tls_cert +
               "] for replication: " + ec.message());
    }
    return ctx;
  }

  Strand strand_;
  const std::shared_ptr<ServerState> state_;
  ha::ChangeLog& log_;
  const std::string self_;
  const std::string log_prefix_;
  const std::shared_ptr<std::atomic<bool>> flush_pending_ =
      std::make_shared<std::atomic<bool>>(false);

  // The standby's side.
  ha::Follower follower_;
  std::string leader_;
  std::int64_t leader_epoch_ = 0;
  std::int64_t revision_ = 0;
  std::shared_ptr<Link> link_;
  std::uint64_t generation_ = 0;  // of the stream wanted now
  milliseconds retry_ = kRetryFirst;
  std::string last_failure_;  // logged; not again until another
  bool frozen_ = false;
  std::unique_ptr<ssl::context> client_tls_;
  std::uint64_t stops_ = 0;  // timers from before a Stop do not run

  // The active's side.
  ha::Node* node_ = nullptr;
  std::int64_t epoch_ = 0;
  std::unique_ptr<ha::Replicator> replicator_;
  std::map<ha::FollowerId, Outbound> streams_;
  std::atomic<ha::FollowerId> next_id_{0};
};

template <class S>
void Start(S stream, Request request, ReplicateRoute route,
           const std::shared_ptr<ServerState>& state) {
  auto* impl = dynamic_cast<ReplicationImpl*>(state->replication.get());
  if (impl == nullptr) return;  // the stream closes as it goes
  impl->Accept(std::move(stream), std::move(request), std::move(route));
}

}  // namespace

std::shared_ptr<Replication> MakeReplication(Strand strand,
                                             std::shared_ptr<ServerState> state,
                                             std::string self,
                                             std::string log_prefix) {
  auto replication =
      std::make_shared<ReplicationImpl>(std::move(strand), std::move(state),
                                        std::move(self), std::move(log_prefix));
  replication->Listen();
  return replication;
}

void StartReplicationStream(Stream stream, Request request,
                            ReplicateRoute route,
                            std::shared_ptr<ServerState> state) {
  Start(PlainSocket(std::move(stream).release_socket()), std::move(request),
        std::move(route), state);
}

void StartReplicationStream(TlsStream stream, Request request,
                            ReplicateRoute route,
                            std::shared_ptr<ServerState> state) {
  Start(std::move(stream), std::move(request), std::move(route), state);
}

}  // namespace locktopus::server
