// session: a scripted conversation between up to 4 clients and the server's
// connection state machine (server::Connection), all in one namespace of a
// server::LockService, each client behind a fake transport that records the
// frames and the close it is asked for, queues the timers it is asked to run
// (ConnectionIo::After) and the acquisition notices it is told of
// (Waiter::Notify) until the script fires or delivers them. A conversation
// may have an HA gate (ConnectionConfig::gate, ha/gate.h), shared by every
// client, that the script moves through its phases on a virtual clock that
// the connections read (ConnectionIo::Now).
//
// The harness keeps docs/protocol.md's view of every connection (ready,
// enqueued or acquired; its lock ID; closed or not) and after every event
// checks that the connection did exactly what the protocol says (what a
// frame means is ParseClientMessage's to say; request_parser checks that),
// which covers:
//   - a lock request gets exactly one immediate answer, `enqueued` or
//     `acquired` with the namespace's next ID, matching the engine's state
//     and the gate: `acquired` only if the engine holds the lock acquired
//     and the gate, read at the event's clock, grants it;
//   - a later `acquired` comes only while the client is enqueued for that
//     ID, so at most once per ID and never after `ready` was sent for it;
//     and a notice reaches only the connection enqueued for that lock, once,
//     when the engine holds it acquired; it is announced only if the gate
//     grants it then, and otherwise the client stays enqueued;
//   - with a gate: no `acquired` frame is sent at a clock time when the
//     gate does not grant its lock (closed, past the window, in the grace,
//     or above the ID ceiling), as the harness's own model of the gate
//     says; an acquisition decided in the grace is held, and when the
//     grace ends (EndGrace) every held one still enqueued is told to its
//     client (Waiter::Notify), and nothing else; one decided when the gate
//     refuses is never announced (a release then is a cancel);
//   - a lock whose ID is above the ceiling is refused: one
//     `communication error: ` frame, close code 1013, the lock is not live
//     and not counted as requested; an ID at or above the ceiling's raise
//     point has asked for a raise (GrantGate::OnRaise), which is asked at
//     most once per SetCeiling and never before an ID reaches that point;
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
//     same events as docs/protocol.md's view sees them: requests, acquisitions
//     (immediate or by notice), releases, cancels (release while enqueued,
//     drop while enqueued), abandonments (drop while acquired), and protocol
//     errors by kind, and locks refused at the ID ceiling; the wait
//     histogram counts every acquisition and the hold histogram every
//     release; the namespace's counters equal the server-wide ones.
// On the first violation it prints the events so far and aborts.
//
// Input: events until the bytes run out, each starting with one byte `op`.
// A client event (every op without a gate; op < 0xC0 with one): the client
// is k = op / 8 % 4 and the event op % 8:
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
//
// An input whose first op is 0xC0 or above has a gate: it starts closed,
// with no ID ceiling, the clock at 0 ms, and every op from 0xC0 on, that
// first one included, is a gate event, op % 8 (t, w, g: the next bytes, in
// ms from now):
//   0     the clock advances by t
//   1     the gate enters the grace until g, with the window until w
//   2     the gate opens, with the window until w
//   3     the grace ends (EndGrace); only in the grace, as the role logic
//         runs it
//   4     the gate closes (fenced)
//   5     the window is extended to w (never earlier: GrantGate::Extend)
//   6     the durable ceiling is set: byte b, ceiling = the last issued ID
//         + b % 4, raised by blocks of b / 4 % 8 IDs (at most twice the
//         ceiling), so a raise is asked from ceiling - block / 2 on
//   7     the clock advances to the next deadline ahead (the grace's end,
//         the window's end), if any
// An input that does not start with such an op has no gate and runs as
// before: bits 6 and 7 of its ops mean nothing.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
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
#include "server/core/ha/gate.h"
#include "server/core/inspect.h"
#include "server/core/lock_service.h"
#include "server/core/metrics.h"
#include "wire/codec.h"

namespace locktopus::fuzz {
namespace {

using server::ha::GrantGate;
using server::ha::Time;
using std::chrono::milliseconds;

constexpr std::string_view kCommunicationError = "communication error: ";
constexpr std::size_t kClients = 4;
// The first gate event; with a gate, every op from here on is one.
constexpr std::uint8_t kGateOp = 0xC0;

// The connection's state as the client knows it from the answers.
enum class View { kReady, kEnqueued, kAcquired };

// docs/protocol.md's answer, spelled out here rather than taken from the
// server.
constexpr std::string_view kAnswerHead = R"({"id":")";
std::string Answer(LockId id, std::string_view action, std::string_view state) {
  return std::string(kAnswerHead) + std::to_string(id) + R"(","action":")" +
         std::string(action) + R"(","state":")" + std::string(state) + R"("})";
}
// The lock ID of an answer; 0 if it has none.
LockId IdOf(std::string_view answer) {
  LockId id = 0;
  if (answer.starts_with(kAnswerHead)) {
    std::from_chars(answer.data() + kAnswerHead.size(),
                    answer.data() + answer.size(), id);
  }
  return id;
}

std::string Millis(Time t) {
  return std::to_string(
             std::chrono::duration_cast<milliseconds>(t.time_since_epoch())
                 .count()) +
         " ms";
}

// The gate as ha/gate.h describes it, kept by the harness from the events
// it runs: what it should decide for announcing a lock at a time.
struct GateModel {
  using Decision = GrantGate::Decision;
  using Phase = GrantGate::Phase;

  Decision Decide(Time now, LockId id) const {
    if (phase == Phase::kClosed || id > limit || now >= grant_until) {
      return Decision::kRefuse;
    }
    if (phase == Phase::kGrace && now < grace_until) return Decision::kHold;
    return Decision::kGrant;
  }

  Phase phase = Phase::kClosed;
  Time grace_until{};
  Time grant_until{};
  LockId limit = std::numeric_limits<LockId>::max();
  LockId raise_at = std::numeric_limits<LockId>::max();
  int raises = 0;  // raises asked since the last SetCeiling
};

std::string_view Name(GrantGate::Decision decision) {
  switch (decision) {
    case GrantGate::Decision::kGrant:
      return "grant";
    case GrantGate::Decision::kHold:
      return "hold";
    case GrantGate::Decision::kRefuse:
      return "refuse";
  }
  return "?";
}

class Conversation;

// One client: the fake transport the Connection talks to, the Connection,
// and what the client should believe.
class Peer : public server::ConnectionIo, public server::LockHolder {
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
  // The conversation's clock.
  Time Now() override;
  void After(milliseconds delay, std::function<void()> fn) override;
  void Notify(LockId id) override;
  // No event of the script force-releases a lock.
  void ForceReleased(LockId id) override;

  int number() const { return number_; }
  const server::ConnectionConfig& config() const { return config_; }
  void set_metrics(server::Metrics* metrics) { config_.metrics = metrics; }
  void set_gate(GrantGate* gate) { config_.gate = gate; }
  server::Connection& connection() { return *connection_; }
  void set_connection(std::unique_ptr<server::Connection> connection) {
    connection_ = std::move(connection);
  }

  // What the transport recorded.
  std::vector<std::string> frames;
  std::optional<std::uint16_t> close_code;

  // What the client should believe (docs/protocol.md's conversation).
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
  // With `gated`, every client's connection asks one gate (see Input).
  explicit Conversation(bool gated) {
    if (!gated) return;
    gate_ = std::make_unique<GrantGate>();
    gate_->OnRaise([this] { Raised(); });
    gate_->SetIdLimit(model_.limit, model_.raise_at);
  }

  // Decodes and runs one event.
  void Event(ByteReader& in) {
    const std::uint8_t op = in.Byte();
    if (gate_ != nullptr && op >= kGateOp) {
      GateEvent(op % 8, in);
      CheckMetrics();
      return;
    }
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
  // From the engine, or from the gate as the grace ends (EndGrace checks
  // those).
  void Notified(Peer& peer, LockId id) {
    if (!ending_grace_) {
      Require(!peer.ended && peer.view == View::kEnqueued && peer.lock == id,
              "client " + std::to_string(peer.number()) + " was told of lock " +
                  std::to_string(id) + ", which it is not enqueued for");
      Require(ns_->State(id) == LockState::kAcquired,
              "a notice for lock " + std::to_string(id) +
                  ", which the engine does not hold acquired");
    }
    notices_.push_back({&peer, id});
  }
  // `peer` is being sent an `acquired` frame for lock `id`.
  void Granted(const Peer& peer, LockId id) {
    if (gate_ == nullptr) return;
    const GrantGate::Decision decision = model_.Decide(clock_, id);
    Require(decision == GrantGate::Decision::kGrant,
            "client " + std::to_string(peer.number()) +
                " was sent `acquired` for lock " + std::to_string(id) + " at " +
                Millis(clock_) + ", when the gate would " +
                std::string(Name(decision)));
  }
  Time clock() const { return clock_; }
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
    std::uint64_t refused_at_ceiling = 0;
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
    Require(
        load(metrics_.locks_refused_id_ceiling) == counted_.refused_at_ceiling,
        "metrics: locks refused at the ID ceiling is " +
            std::to_string(load(metrics_.locks_refused_id_ceiling)) +
            ", the events make it " +
            std::to_string(counted_.refused_at_ceiling));
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
    peer->set_gate(gate_.get());
    peer->set_connection(std::make_unique<server::Connection>(
        ns_, peer->config(), *peer, server::LockHolderRef(peer)));
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
      if (gate_ != nullptr) {
        Require(id < model_.raise_at || model_.raises == 1,
                "lock " + std::to_string(id) +
                    " reached the ceiling's raise point " +
                    std::to_string(model_.raise_at) +
                    " without asking for a raise");
        if (id > model_.limit) {
          Require(ns_->State(id) == LockState::kNone,
                  "the lock refused at the ID ceiling is live");
          ++counted_.refused_at_ceiling;
          return ExpectRefusal(peer, server::kTryAgainLaterCloseCode,
                               "a lock above the ID ceiling");
        }
      }
      const LockState state = ns_->State(id);
      Require(state != LockState::kNone, "the new lock is not live");
      const bool acquired =
          state == LockState::kAcquired && Announced(peer, id);
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
    if (!Announced(peer, notice.id)) return ExpectFrames(peer, {});
    ExpectFrames(peer, {Answer(notice.id, "lock", "acquired")});
    peer.view = View::kAcquired;
    ++counted_.acquired;
  }

  void ExpectProtocolError(Peer& peer, wire::ProtocolErrorKind kind) {
    ++counted_.errors[static_cast<std::size_t>(kind)];
    ExpectRefusal(peer, server::kProtocolErrorCloseCode, "a protocol error");
  }

  // One `communication error: ` frame, close `code`, then as a drop.
  void ExpectRefusal(Peer& peer, std::uint16_t code, const std::string& what) {
    Require(peer.frames.size() == frames_before_ + 1 &&
                peer.frames.back().starts_with(kCommunicationError),
            what + " was not answered with one error frame");
    Require(peer.close_code == code,
            what + " did not close with code " + std::to_string(code));
    ExpectNoFramesElsewhere(1);
    AfterDrop(peer);
  }

  // Whether the gate, if any, grants now the announcement of lock `id`,
  // which the engine holds acquired for `peer`; one it holds is announced
  // when the grace ends.
  bool Announced(Peer& peer, LockId id) {
    if (gate_ == nullptr) return true;
    const GrantGate::Decision decision = model_.Decide(clock_, id);
    if (decision == GrantGate::Decision::kHold) held_.push_back({&peer, id});
    return decision == GrantGate::Decision::kGrant;
  }

  void GateEvent(std::uint8_t kind, ByteReader& in) {
    using Phase = GrantGate::Phase;
    switch (kind) {
      case 0: {
        const milliseconds t(in.Byte());
        clock_ += t;
        Begin(nullptr, "the clock advances by " + std::to_string(t.count()) +
                           " ms, to " + Millis(clock_));
        break;
      }
      case 1: {
        const Time grace_until = clock_ + milliseconds(in.Byte());
        const Time grant_until = clock_ + milliseconds(in.Byte());
        Begin(nullptr, "at " + Millis(clock_) +
                           ", the gate enters the grace until " +
                           Millis(grace_until) + ", with the window until " +
                           Millis(grant_until));
        Enter(Phase::kGrace, grace_until, grant_until);
        break;
      }
      case 2: {
        const Time grant_until = clock_ + milliseconds(in.Byte());
        Begin(nullptr, "at " + Millis(clock_) +
                           ", the gate opens with the window until " +
                           Millis(grant_until));
        Enter(Phase::kOpen, clock_, grant_until);
        break;
      }
      case 3:
        EndGrace();
        break;
      case 4:
        Begin(nullptr, "at " + Millis(clock_) + ", the gate closes");
        model_.phase = Phase::kClosed;
        gate_->Close();
        break;
      case 5: {
        const Time grant_until = clock_ + milliseconds(in.Byte());
        Begin(nullptr, "at " + Millis(clock_) + ", the window is extended to " +
                           Millis(grant_until));
        model_.grant_until = std::max(model_.grant_until, grant_until);
        gate_->Extend(grant_until);
        break;
      }
      case 6: {
        const std::uint8_t b = in.Byte();
        const LockId ceiling = last_id_ + b % 4;
        const LockId block = std::min<LockId>(b / 4 % 8, 2 * ceiling);
        Begin(nullptr, "the ID ceiling is set to " + std::to_string(ceiling) +
                           ", raised by blocks of " + std::to_string(block));
        model_.limit = ceiling;
        model_.raise_at = ceiling - block / 2;
        model_.raises = 0;
        gate_->SetCeiling(ceiling, block);
        break;
      }
      case 7: {
        Time next = clock_;
        for (const Time t : {model_.grace_until, model_.grant_until}) {
          if (t > clock_ && (next == clock_ || t < next)) next = t;
        }
        clock_ = next;
        Begin(nullptr,
              "the clock advances to the next deadline, " + Millis(clock_));
        break;
      }
    }
    ExpectNoFrames();
    ExpectTimers(0);
    Require(gate_->phase() == model_.phase &&
                gate_->grace_until() == model_.grace_until &&
                gate_->grant_until() == model_.grant_until &&
                gate_->id_limit() == model_.limit,
            "the gate's state is not what its events made it");
  }

  void Enter(GrantGate::Phase phase, Time grace_until, Time grant_until) {
    model_.phase = phase;
    model_.grace_until = grace_until;
    model_.grant_until = grant_until;
    gate_->Enter(phase, grace_until, grant_until);
  }

  // Runs only in the grace, as the role logic does. The gate tells each
  // held acquisition's client (the notices are delivered later, as the
  // engine's): none that it did not hold, and every one still enqueued.
  void EndGrace() {
    if (model_.phase != GrantGate::Phase::kGrace) {
      return Begin(nullptr, "not in the grace: it does not end");
    }
    Begin(nullptr, "at " + Millis(clock_) + ", the grace ends");
    const std::size_t before = notices_.size();
    ending_grace_ = true;
    gate_->EndGrace(clock_);
    ending_grace_ = false;
    model_.phase = GrantGate::Phase::kOpen;
    model_.grace_until = clock_;
    std::vector<Notice> held = std::exchange(held_, {});
    for (std::size_t i = before; i < notices_.size(); ++i) {
      const Notice& told = notices_[i];
      const auto it = std::find_if(held.begin(), held.end(), [&](auto& h) {
        return h.peer == told.peer && h.id == told.id;
      });
      Require(it != held.end(), "the grace's end told client " +
                                    std::to_string(told.peer->number()) +
                                    " of lock " + std::to_string(told.id) +
                                    ", which the grace did not hold");
      held.erase(it);
    }
    for (const Notice& h : held) {
      Require(h.peer->ended || h.peer->view != View::kEnqueued ||
                  h.peer->lock != h.id,
              "lock " + std::to_string(h.id) + " of client " +
                  std::to_string(h.peer->number()) +
                  ", held in the grace, was not announced when it ended");
    }
  }

  // The gate asks for a raise of the ID ceiling.
  void Raised() {
    log_.push_back("  the gate asks for a raise of the ID ceiling");
    Require(model_.raises == 0,
            "the gate asked twice for a raise since the ceiling was set");
    Require(ns_->GetStats().last_id >= model_.raise_at,
            "the gate asked for a raise before any ID reached " +
                std::to_string(model_.raise_at));
    ++model_.raises;
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
      what += "\n  but docs/protocol.md says";
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
  std::unique_ptr<GrantGate> gate_;  // null: no gate
  GateModel model_;
  std::vector<Notice> held_;  // what the gate should hold, as model_ says
  Time clock_{};
  bool ending_grace_ = false;  // the gate is telling the held acquisitions
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
  conversation_.Granted(*this, IdOf(text));
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

void Peer::ForceReleased(LockId id) {
  conversation_.Require(false, "client " + std::to_string(number_) +
                                   " was told that lock " + std::to_string(id) +
                                   " was force-released, which no event does");
}

Time Peer::Now() { return conversation_.clock(); }

}  // namespace
}  // namespace locktopus::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace locktopus::fuzz;
  ByteReader in(data, size);
  Conversation conversation(size > 0 && data[0] >= kGateOp);
  while (!in.empty()) conversation.Event(in);
  conversation.Finish();
  return 0;
}
