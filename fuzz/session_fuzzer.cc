// session: a scripted conversation between up to 4 clients and the server's
// connection state machine (server::Connection), all in one namespace of a
// server::LockService, each client behind a fake transport that records the
// frames and the close it is asked for, queues the timers it is asked to run
// (ConnectionIo::After) and the acquisition notices it is told of
// (Waiter::Notify) until the script fires or delivers them.
//
// The harness keeps PROTOCOL.md's view of every connection (ready, enqueued
// or acquired; its lock ID; closed or not) and after every event checks that
// the connection did exactly what the protocol says (what a frame means is
// ParseClientMessage's to say; request_parser checks that), which covers:
//   - a lock request gets exactly one immediate answer, `enqueued` or
//     `acquired` with the namespace's next ID, matching the engine's state;
//   - a later `acquired` comes only while the client is enqueued for that
//     ID, so at most once per ID and never after `ready` was sent for it;
//     and a notice reaches only the connection enqueued for that lock, once,
//     when the engine holds it acquired;
//   - a release while enqueued or acquired is answered `ready`, and the
//     engine no longer has the lock;
//   - a protocol error (garbage, a frame over the size limit, an action not
//     allowed in the state) is one `communication error: ` frame, then close
//     code 3000, then the lock is handled as on a drop;
//   - nothing is sent after a close, and no event sends to another client;
//   - a drop while enqueued cancels the lock at once (the engine's state is
//     kNone); while acquired, the lock stays acquired and exactly one timer of
//     the abandon timeout is set (with a timeout of 0 it is released at once);
//   - an abandon timer finds its lock still acquired and releases it;
//   - at the end, once every notice is delivered, every connection closed and
//     every timer fired, the namespace has no live lock, and nothing holds
//     it: it is freed;
//   - after every event, the metrics the connections count (server::Metrics,
//     with per-namespace counters on) equal the harness's own count of the
//     same events as PROTOCOL.md's view sees them: requests, acquisitions
//     (immediate or by notice), releases, cancels (release while enqueued,
//     drop while enqueued), abandonments (drop while acquired), and protocol
//     errors by kind; the wait histogram counts every acquisition and the
//     hold histogram every release; the namespace's counters equal the
//     server-wide ones.
// On the first violation it prints the events so far and aborts.
//
// Input: events until the bytes run out, each starting with one byte `op`:
// the client is k = op / 8 % 4 and the event op % 8:
//   0, 1  k sends a lock; the resources follow (fuzz::ReadResources)
//   2     k sends a release
//   3     k sends garbage: the next byte n, then n bytes as the frame; when
//         n >= 240, a frame over the size limit instead (OnOversizedFrame)
//   4     k's transport ends (OnClosed)
//   5     fire pending timer j, j = next byte mod the pending count
//   6     deliver pending notice j (OnAcquired), j as for timers
//   7     k's transport ends, and k connects again
// A client connects on its first event; bit 5 of that op picks its abandon
// timeout: 0 (release at once) or 1000 ms.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "fuzz/byte_reader.h"
#include "fuzz/report.h"
#include "server/core/connection.h"
#include "server/core/lock_service.h"
#include "server/core/metrics.h"
#include "wire/codec.h"

namespace locktopus::fuzz {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kCommunicationError = "communication error: ";
constexpr std::size_t kClients = 4;

// The connection's state as the client knows it from the answers.
enum class View { kReady, kEnqueued, kAcquired };

// PROTOCOL.md's answer, spelled out here rather than taken from the server.
std::string Answer(LockId id, std::string_view action, std::string_view state) {
  return R"({"id":")" + std::to_string(id) + R"(","action":")" +
         std::string(action) + R"(","state":")" + std::string(state) + R"("})";
}

class Conversation;

// One client: the fake transport the Connection talks to, the Connection,
// and what the client should believe.
class Peer : public server::ConnectionIo, public Waiter {
 public:
  Peer(Conversation& conversation, int number, milliseconds abandon)
      : conversation_(conversation), number_(number) {
    config_.abandon_timeout = abandon;
  }

  void Send(std::string text) override;
  void SendGrant(std::string text) override;
  // A frame of either kind, in the order sent.
  void Receive(std::string text);
  void Close(std::uint16_t code, std::string_view reason) override;
  // No gate here: the clock is never read.
  server::ha::Time Now() override { return {}; }
  void After(milliseconds delay, std::function<void()> fn) override;
  void Notify(LockId id) override;

  int number() const { return number_; }
  const server::ConnectionConfig& config() const { return config_; }
  void set_metrics(server::Metrics* metrics) { config_.metrics = metrics; }
  server::Connection& connection() { return *connection_; }
  void set_connection(std::unique_ptr<server::Connection> connection) {
    connection_ = std::move(connection);
  }

  // What the transport recorded.
  std::vector<std::string> frames;
  std::optional<std::uint16_t> close_code;

  // What the client should believe (PROTOCOL.md's conversation).
  View view = View::kReady;
  LockId lock = 0;     // the lock of the last lock request
  bool ended = false;  // OnClosed was called, or the connection closed

 private:
  Conversation& conversation_;
  const int number_;
  server::ConnectionConfig config_;
  std::unique_ptr<server::Connection> connection_;
};

class Conversation {
 public:
  // Decodes and runs one event.
  void Event(ByteReader& in) {
    const std::uint8_t op = in.Byte();
    const std::size_t k = op / 8 % kClients;
    if (clients_[k] == nullptr) Connect(k, op);
    Peer& peer = *clients_[k];
    switch (op % 8) {
      case 0:
      case 1:
        Frame(peer, wire::FormatLock(ReadResources(in)));
        break;
      case 2:
        Frame(peer, R"({"action":"release"})");
        break;
      case 3:
        if (const std::uint8_t n = in.Byte(); n >= 240) {
          Oversized(peer);
        } else {
          Frame(peer, in.Text(n));
        }
        break;
      case 4:
        Drop(peer);
        break;
      case 5:
        if (!timers_.empty()) FireTimer(in.Below(timers_.size()));
        break;
      case 6:
        if (!notices_.empty()) DeliverNotice(in.Below(notices_.size()));
        break;
      case 7:
        Drop(peer);
        Connect(k, op);
        break;
    }
    CheckMetrics();
  }

  // Delivers every notice, closes every connection, fires every timer; then
  // nothing may be live.
  void Finish() {
    while (!notices_.empty()) DeliverNotice(0);
    for (const auto& peer : peers_) Drop(*peer);
    while (!timers_.empty()) FireTimer(0);
    while (!notices_.empty()) DeliverNotice(0);
    Begin(nullptr, "the end");
    const Stats stats = ns_->GetStats();
    Require(stats.locks_pending + stats.locks_acquired == 0,
            "locks are still live at the end");
    CheckMetrics();
    Require(counted_.requested == counted_.acquired + counted_.cancelled &&
                counted_.acquired == counted_.released + counted_.abandoned,
            "at the end, a lock did not end exactly one way");
    // Every connection has ended and every timer fired: once the harness
    // lets go of it too, nothing holds the namespace, and it is freed.
    ns_.reset();
    Require(service_->open() == 0,
            "the idle namespace is still open after everything let go");
  }

  // Called by the transports.
  void Sent() { ++frames_sent_; }
  void TimerSet(Peer& peer, milliseconds delay, std::function<void()> fn) {
    timers_.push_back({delay, std::move(fn), peer.number(), 0});
  }
  void Notified(Peer& peer, LockId id) {
    Require(!peer.ended && peer.view == View::kEnqueued && peer.lock == id,
            "client " + std::to_string(peer.number()) + " was told of lock " +
                std::to_string(id) + ", which it is not enqueued for");
    Require(ns_->State(id) == LockState::kAcquired,
            "a notice for lock " + std::to_string(id) +
                ", which the engine does not hold acquired");
    notices_.push_back({&peer, id});
  }
  void Require(bool ok, const std::string& what) {
    if (!ok) Report(what);
  }

 private:
  struct Timer {
    milliseconds delay;
    std::function<void()> fn;
    int peer;     // who set it
    LockId lock;  // the abandoned lock it must release
  };
  struct Notice {
    Peer* peer;
    LockId id;
  };
  // The harness's own count of what the metrics should hold.
  struct Counted {
    std::uint64_t requested = 0, acquired = 0, released = 0, cancelled = 0,
                  abandoned = 0;
    std::uint64_t errors[wire::kProtocolErrorKinds] = {};
  };

  void CheckMetrics() {
    auto load = [](const server::Counter& c) { return c.load(); };
    const server::LockCounters& all = metrics_.locks;
    const server::LockCounters& ns = ns_->counters();
    const std::uint64_t want[] = {counted_.requested, counted_.acquired,
                                  counted_.released, counted_.cancelled,
                                  counted_.abandoned};
    const std::uint64_t got[] = {load(all.requested), load(all.acquired),
                                 load(all.released), load(all.cancelled),
                                 load(all.abandoned)};
    const std::uint64_t got_ns[] = {load(ns.requested), load(ns.acquired),
                                    load(ns.released), load(ns.cancelled),
                                    load(ns.abandoned)};
    static constexpr const char* kNames[] = {
        "requested", "acquired", "released", "cancelled", "abandoned"};
    for (std::size_t i = 0; i < 5; ++i) {
      Require(got[i] == want[i] && got_ns[i] == want[i],
              std::string("metrics: locks ") + kNames[i] + " is " +
                  std::to_string(got[i]) + " (namespace " +
                  std::to_string(got_ns[i]) + "), the events make it " +
                  std::to_string(want[i]));
    }
    for (std::size_t i = 0; i < wire::kProtocolErrorKinds; ++i) {
      Require(
          load(metrics_.protocol_errors[i]) == counted_.errors[i],
          "metrics: protocol errors " +
              std::string(wire::Name(static_cast<wire::ProtocolErrorKind>(i))) +
              " is " + std::to_string(load(metrics_.protocol_errors[i])) +
              ", the events make it " + std::to_string(counted_.errors[i]));
    }
    Require(metrics_.wait.Read().count == counted_.acquired,
            "metrics: the wait histogram does not count every acquisition");
    Require(metrics_.hold.Read().count == counted_.released,
            "metrics: the hold histogram does not count every release");
  }

  void Connect(std::size_t k, std::uint8_t op) {
    const milliseconds abandon((op & 32) != 0 ? 1000 : 0);
    auto peer =
        std::make_shared<Peer>(*this, static_cast<int>(peers_.size()), abandon);
    peer->set_metrics(&metrics_);
    peer->set_connection(std::make_unique<server::Connection>(
        ns_, peer->config(), *peer, WaiterRef(peer)));
    Begin(nullptr, "client " + std::to_string(peer->number()) +
                       " connects (k=" + std::to_string(k) +
                       ", abandon timeout " + std::to_string(abandon.count()) +
                       " ms)");
    clients_[k] = peer.get();
    peers_.push_back(std::move(peer));
  }

  // The client sends `text` as one frame.
  void Frame(Peer& peer, std::string_view text) {
    Begin(&peer,
          "client " + std::to_string(peer.number()) + " sends " + Quoted(text));
    peer.connection().OnFrame(text);
    if (peer.ended) return ExpectFrames(peer, {});

    const auto message = wire::ParseClientMessage(text, peer.config().limits);
    if (const auto* error = std::get_if<wire::ProtocolError>(&message)) {
      return ExpectProtocolError(peer, error->kind);
    }
    using enum wire::ProtocolErrorKind;
    if (std::holds_alternative<wire::LockMessage>(message)) {
      if (peer.view != View::kReady) {
        return ExpectProtocolError(peer, kWrongState);
      }
      const LockId id = ns_->GetStats().last_id;
      Require(id == last_id_ + 1, "the lock did not get the next ID");
      last_id_ = id;
      const LockState state = ns_->State(id);
      Require(state != LockState::kNone, "the new lock is not live");
      const bool acquired = state == LockState::kAcquired;
      ExpectFrames(peer,
                   {Answer(id, "lock", acquired ? "acquired" : "enqueued")});
      peer.view = acquired ? View::kAcquired : View::kEnqueued;
      peer.lock = id;
      ++counted_.requested;
      if (acquired) ++counted_.acquired;
      return;
    }
    if (peer.view == View::kReady)
      return ExpectProtocolError(peer, kWrongState);
    ++(peer.view == View::kEnqueued ? counted_.cancelled : counted_.released);
    ExpectFrames(peer, {Answer(peer.lock, "release", "ready")});
    Require(ns_->State(peer.lock) == LockState::kNone,
            "the released lock is still live");
    peer.view = View::kReady;
  }

  void Oversized(Peer& peer) {
    Begin(&peer, "client " + std::to_string(peer.number()) +
                     " sends a frame over the size limit");
    peer.connection().OnOversizedFrame(peer.config().limits.max_message_bytes +
                                       1);
    if (peer.ended) return ExpectFrames(peer, {});
    ExpectProtocolError(peer, wire::ProtocolErrorKind::kOversized);
  }

  // The transport ends.
  void Drop(Peer& peer) {
    Begin(&peer,
          "client " + std::to_string(peer.number()) + "'s transport ends");
    const bool was_ended = peer.ended;
    const std::optional<std::uint16_t> close_code = peer.close_code;
    peer.connection().OnClosed();
    ExpectFrames(peer, {});
    Require(peer.close_code == close_code,
            "the connection asked to close a transport that had ended");
    if (was_ended) return ExpectTimers(0);
    AfterDrop(peer);
  }

  void FireTimer(std::size_t j) {
    Timer timer = std::move(timers_[j]);
    timers_.erase(timers_.begin() + static_cast<std::ptrdiff_t>(j));
    Begin(nullptr, "the abandon timer of client " + std::to_string(timer.peer) +
                       "'s lock " + std::to_string(timer.lock) + " fires");
    Require(ns_->State(timer.lock) == LockState::kAcquired,
            "the abandoned lock was not acquired until its timer fired");
    timer.fn();
    Require(ns_->State(timer.lock) == LockState::kNone,
            "the abandon timer did not release the lock");
    ExpectTimers(0);
    ExpectNoFrames();
  }

  void DeliverNotice(std::size_t j) {
    const Notice notice = notices_[j];
    notices_.erase(notices_.begin() + static_cast<std::ptrdiff_t>(j));
    Peer& peer = *notice.peer;
    Begin(&peer, "client " + std::to_string(peer.number()) +
                     " gets the notice of " + std::to_string(notice.id));
    peer.connection().OnAcquired(notice.id);
    if (peer.ended || peer.view != View::kEnqueued || peer.lock != notice.id) {
      return ExpectFrames(peer, {});  // stale: released or dropped meanwhile
    }
    Require(ns_->State(notice.id) == LockState::kAcquired,
            "the notified lock is not acquired");
    ExpectFrames(peer, {Answer(notice.id, "lock", "acquired")});
    peer.view = View::kAcquired;
    ++counted_.acquired;
  }

  // One `communication error: ` frame, close code 3000, then as a drop.
  void ExpectProtocolError(Peer& peer, wire::ProtocolErrorKind kind) {
    ++counted_.errors[static_cast<std::size_t>(kind)];
    Require(peer.frames.size() == frames_before_ + 1 &&
                peer.frames.back().starts_with(kCommunicationError),
            "a protocol error was not answered with one error frame");
    Require(peer.close_code == server::kProtocolErrorCloseCode,
            "a protocol error did not close with code 3000");
    ExpectNoFramesElsewhere(1);
    AfterDrop(peer);
  }

  // The lock of a connection that just ended: cancelled if enqueued,
  // abandoned (one timer, or released at once for 0 ms) if acquired.
  void AfterDrop(Peer& peer) {
    peer.ended = true;
    if (peer.view == View::kEnqueued) ++counted_.cancelled;
    if (peer.view == View::kAcquired) ++counted_.abandoned;
    const LockState state = ns_->State(peer.lock);
    const milliseconds abandon = peer.config().abandon_timeout;
    if (peer.view == View::kAcquired && abandon.count() > 0) {
      Require(state == LockState::kAcquired,
              "the dropped acquired lock was not kept for its abandon timeout");
      ExpectTimers(1);
      Require(timers_.back().delay == abandon,
              "the abandon timer is not the abandon timeout");
      timers_.back().lock = peer.lock;
    } else {
      Require(peer.view == View::kReady || state == LockState::kNone,
              "the dropped connection's lock is still live");
      ExpectTimers(0);
    }
    peer.view = View::kReady;
  }

  // During this event, `peer` sent exactly `expected` and nobody else sent.
  void ExpectFrames(Peer& peer, const std::vector<std::string>& expected) {
    const std::vector<std::string> sent(
        peer.frames.begin() + static_cast<std::ptrdiff_t>(frames_before_),
        peer.frames.end());
    if (sent != expected) {
      std::string what = "client " + std::to_string(peer.number()) + " got";
      for (const std::string& frame : sent) what += "\n    " + frame;
      what += sent.empty() ? " nothing" : "";
      what += "\n  but PROTOCOL.md says";
      for (const std::string& frame : expected) what += "\n    " + frame;
      what += expected.empty() ? " nothing" : "";
      Report(what);
    }
    ExpectNoFramesElsewhere(expected.size());
  }
  void ExpectNoFramesElsewhere(std::size_t on_peer) {
    Require(frames_sent_ == sent_before_ + on_peer,
            "an event sent frames to another client");
  }
  void ExpectNoFrames() { ExpectNoFramesElsewhere(0); }
  void ExpectTimers(std::size_t n) {
    Require(timers_.size() == timers_before_ + n,
            "expected " + std::to_string(n) + " new timer(s), got " +
                std::to_string(timers_.size() - timers_before_));
  }

  // Starts an event on `peer` (or on nobody): logs it and notes what exists
  // before it.
  void Begin(const Peer* peer, std::string event) {
    log_.push_back(std::move(event));
    sent_before_ = frames_sent_;
    timers_before_ = timers_.size();
    frames_before_ = peer != nullptr ? peer->frames.size() : 0;
  }

  [[noreturn]] void Report(const std::string& what) {
    std::ostringstream os;
    os << what << "\nEvents:\n";
    for (std::size_t i = 0; i < log_.size(); ++i) {
      os << "  " << i + 1 << ". " << log_[i] << '\n';
    }
    os << "Frames each client got:\n";
    for (const auto& peer : peers_) {
      os << "  client " << peer->number() << ":";
      for (const std::string& frame : peer->frames) os << " " << frame;
      if (peer->close_code) os << " [close " << *peer->close_code << "]";
      os << '\n';
    }
    Fail("session", os.str());
  }

  const std::shared_ptr<server::LockService> service_ =
      std::make_shared<server::LockService>();
  server::NamespaceHold ns_ = service_->Open("fuzz");
  server::Metrics metrics_{/*per_namespace_labels=*/true};
  Counted counted_;
  std::vector<std::shared_ptr<Peer>> peers_;  // every client ever connected
  Peer* clients_[kClients] = {};              // the current client k
  std::vector<Timer> timers_;
  std::vector<Notice> notices_;
  std::vector<std::string> log_;
  LockId last_id_ = 0;
  std::size_t frames_sent_ = 0;
  std::size_t sent_before_ = 0;
  std::size_t timers_before_ = 0;
  std::size_t frames_before_ = 0;
};

// Every `acquired` frame, and only such a frame, goes through SendGrant, so
// that the network shell checks the grant window again when it writes it.
constexpr std::string_view kAcquired = R"("state":"acquired")";

void Peer::Send(std::string text) {
  conversation_.Require(
      text.find(kAcquired) == std::string::npos,
      "client " + std::to_string(number_) +
          " was told of an acquisition without SendGrant: " + text);
  Receive(std::move(text));
}

void Peer::SendGrant(std::string text) {
  conversation_.Require(text.find(kAcquired) != std::string::npos,
                        "client " + std::to_string(number_) +
                            " got a frame through SendGrant that is not an "
                            "acquisition: " +
                            text);
  Receive(std::move(text));
}

void Peer::Receive(std::string text) {
  conversation_.Require(!close_code,
                        "client " + std::to_string(number_) +
                            " got a frame after the close: " + text);
  frames.push_back(std::move(text));
  conversation_.Sent();
}

void Peer::Close(std::uint16_t code, std::string_view /*reason*/) {
  conversation_.Require(
      !close_code, "client " + std::to_string(number_) + " was closed twice");
  close_code = code;
}

void Peer::After(milliseconds delay, std::function<void()> fn) {
  conversation_.TimerSet(*this, delay, std::move(fn));
}

void Peer::Notify(LockId id) { conversation_.Notified(*this, id); }

}  // namespace
}  // namespace locktopus::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace locktopus::fuzz;
  ByteReader in(data, size);
  Conversation conversation;
  while (!in.empty()) conversation.Event(in);
  conversation.Finish();
  return 0;
}
