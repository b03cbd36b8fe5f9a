// session: a scripted conversation between up to 4 clients and the server's
// connection state machine (server::Connection), all in one namespace of a
// server::LockService, each client behind a fake transport that records the
// frames and the close it is asked for, queues the timers it is asked to run
// (ConnectionIo::After) and the acquisition notices it is told of
// (Waiter::Notify) until the script fires or delivers them. A conversation
// may have an HA gate (ConnectionConfig::gate, ha/gate.h), shared by every
// client, that the script moves through its phases on a virtual clock that
// the connections read (ConnectionIo::Now). A client may be a session
// (server::ClientSession, from a server::SessionTable): then each of its
// transports is such a fake (a server::SessionTransport, which also records
// CloseSoon), the script detaches it, resumes it on a new transport with
// its token, lets its window pass, tries corrupted tokens, and sends events
// from transports it has left; an operator may force-release any client's
// lock (server::ForceRelease).
//
// The harness keeps docs/protocol.md's view of every connection (ready,
// enqueued or acquired; its lock ID; closed or not), and docs/semantics.md's
// of every session (its lock's, shared by its transports; which transport
// is attached; expired or not), and after every event
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
//     release; the namespace's counters equal the server-wide ones; and the
//     session counters (created, detached, resumed, expired, resumes not
//     found, detached now) equal the harness's count;
//   - sessions: the first transport gets one `new` frame (ParseSessionFrame)
//     with a token of the token's shape and the window; a protocol error or
//     refusal closes only the transport, and the lock stays;
//   - the end of the attached transport detaches the session: nothing is
//     sent, the lock stays as it was in the engine (acquired stays acquired,
//     enqueued keeps its place and may be acquired meanwhile, its notice
//     dropped), and exactly one timer of the window is set; the end of any
//     other transport changes nothing;
//   - a resume within the window (SessionTable::Find with the token, then
//     Attach) gets one `resumed` frame with the token, the window and the
//     lock's state and ID (none: no ID, also for a lock an operator ended
//     whose notice is still on its way); an enqueued lock the engine acquired
//     meanwhile is reported acquired if the gate grants it then (checked
//     against the gate as any `acquired` frame), and held or enqueued
//     otherwise; a `resumed` frame reporting acquired, and only such a one,
//     goes through SendGrant; a lock is never announced twice; a transport
//     still attached is closed once with 4409 `session moved`, before the new
//     one hears anything, and speaks for the session no more;
//   - frames and ends from a transport the session has left do nothing;
//     acquisition and force-release notices reaching it are passed on, once,
//     to the transport attached now (none while detached);
//   - the window timer of the latest detachment, if no resume came, ends the
//     session: its lock ends (acquired: released, counted abandoned;
//     enqueued: cancelled), nothing is sent, the token finds nothing and
//     Attach refuses; an earlier detachment's timer does nothing;
//   - every token that differs from the session's in one byte (of the ID,
//     the dot or the secret, the ID's hex digits in either case), in its
//     length, or that names another namespace,
//     is refused (Find returns null) and changes nothing, and the true token
//     still finds the session;
//   - a force release ends the live lock in the engine as it was; a
//     listening transport is told once, and gets the reason frame and close
//     4000 (a session's closed transport: nothing); a detached session's
//     lock ends at once, silently, so that a resume reports `none`; every
//     lock ends exactly one way, and at the end every session has expired
//     and the table is empty.
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
// timeout (a session's window): 0 (release at once) or 1000 ms. With bit 6
// set and bit 7 clear (0x40 to 0x7F), an op is a session event of k, op % 8,
// and k's first event opens a session:
//   0     a new transport resumes k's session with its token (taking it
//         over if a transport is attached)
//   1     the window timer of k's session's latest detachment fires
//   2     corrupted tokens of k's session try to resume it; the next byte
//         picks the replacement bytes
//   3     a transport k's session has left (next byte j) sends: by the next
//         byte % 4, a lock (resources follow), a release, garbage, a frame
//         over the size limit
//   4     a transport k's session has left (j) ends
//   5     the notice of k's session's lock, once the engine holds it
//         acquired, reaches a transport the session has left (j)
//   6     an operator force-releases k's live lock (a plain client's too)
//   7     k's transport ends, and k opens a new session
// Session events 0 to 5 of a plain client do nothing.
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
// before: bit 7 of its ops means nothing.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "fuzz/byte_reader.h"
#include "fuzz/report.h"
#include "server/core/connection.h"
#include "server/core/force_release.h"
#include "server/core/ha/gate.h"
#include "server/core/inspect.h"
#include "server/core/lock_service.h"
#include "server/core/metrics.h"
#include "server/core/session.h"
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
// A session event: bit 6 set, bit 7 clear (see Input).
constexpr bool IsSessionOp(std::uint8_t op) { return (op & 0xC0) == 0x40; }
constexpr std::string_view kNamespace = "fuzz";
constexpr std::string_view kPeerAddress = "192.0.2.1";

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
class Peer;

// What a client should believe of its lock (docs/protocol.md's
// conversation): a plain connection's own, or its session's, which every
// transport of the session shares.
struct Belief {
  View view = View::kReady;
  LockId lock = 0;  // the lock of the last lock request
};

// A session as its client should believe it (docs/semantics.md
// "Sessions").
struct SessionClient {
  int number = 0;
  std::shared_ptr<server::ClientSession> session;
  std::string token;
  milliseconds window{};
  Belief belief;
  Peer* attached = nullptr;       // the transport that speaks for it, if any
  std::vector<Peer*> transports;  // every transport it ever had
  // Bumped by every attach and detachment, as ClientSession counts them:
  // only the window timer of the latest detachment may end the session.
  std::uint64_t epoch = 0;
  bool expired = false;
};

// One transport: the fake the Connection (or the session) talks to, the
// plain Connection if it is not a session's, and what the client should
// believe.
class Peer : public server::SessionTransport {
 public:
  Peer(Conversation& conversation, int number, milliseconds abandon,
       SessionClient* session = nullptr)
      : session(session), conversation_(conversation), number_(number) {
    config_.abandon_timeout = abandon;
    if (session != nullptr) belief = &session->belief;
  }

  void Send(std::string text) override;
  void SendGrant(std::string text) override;
  // A frame of either kind, in the order sent.
  void Receive(std::string text);
  void Close(std::uint16_t code, std::string_view reason) override;
  void CloseSoon(std::uint16_t code, std::string reason) override;
  // The conversation's clock.
  Time Now() override;
  void After(milliseconds delay, std::function<void()> fn) override;
  void Notify(LockId id) override;
  void ForceReleased(LockId id) override;

  // The transport's events, passed to its Connection or its session.
  void OnFrame(std::string_view text) {
    if (session != nullptr) return session->session->OnFrame(this, text);
    connection_->OnFrame(text);
  }
  void OnOversizedFrame(std::size_t size) {
    if (session != nullptr) {
      return session->session->OnOversizedFrame(this, size);
    }
    connection_->OnOversizedFrame(size);
  }
  void OnAcquired(LockId id) {
    if (session != nullptr) return session->session->OnAcquired(this, id);
    connection_->OnAcquired(id);
  }
  void OnForceReleased(LockId id) {
    if (session != nullptr) {
      return session->session->OnForceReleased(this, id);
    }
    connection_->OnForceReleased(id);
  }
  void OnClosed() {
    if (session != nullptr) return session->session->OnClosed(this);
    connection_->OnClosed();
  }

  int number() const { return number_; }
  const server::ConnectionConfig& config() const { return config_; }
  void set_metrics(server::Metrics* metrics) { config_.metrics = metrics; }
  void set_gate(GrantGate* gate) { config_.gate = gate; }
  void set_connection(std::unique_ptr<server::Connection> connection) {
    connection_ = std::move(connection);
  }
  // Whether the lock's notices come to this transport: a plain
  // connection's until it ends; a session's while attached.
  bool Listens() const {
    return session != nullptr ? session->attached == this : !ended;
  }

  // What the transport recorded.
  std::vector<std::string> frames;
  std::optional<std::uint16_t> close_code;
  std::optional<std::uint16_t> moved_code;  // CloseSoon's
  std::string moved_reason;
  std::uint64_t moved_at = 0;        // the conversation's sequence number
  std::uint64_t first_frame_at = 0;  // 0: none yet

  SessionClient* const session;  // null: a plain connection
  Belief own;
  Belief* belief = &own;
  // A plain connection has ended (OnClosed, or it closed); a session's
  // transport answers no more (it closed, ended, or was taken over).
  bool ended = false;

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
    if (IsSessionOp(op)) {
      SessionEvent(k, op, in);
      CheckMetrics();
      return;
    }
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
    for (const auto& s : sessions_) {
      Require(s->expired, "session " + std::to_string(s->number) +
                              " outlived the window of its last detachment");
    }
    Require(table_->live() == 0, "the session table still has sessions");
    // Every connection has ended and every timer fired: once the harness
    // lets go of it too, nothing holds the namespace, and it is freed.
    ns_.reset();
    Require(service_->open() == 0,
            "the idle namespace is still open after everything let go");
  }

  // Called by the transports.
  std::uint64_t Sent() {
    ++frames_sent_;
    return ++sequence_;
  }
  void TimerSet(Peer& peer, milliseconds delay, std::function<void()> fn) {
    timers_.push_back({delay, std::move(fn), peer.number(), 0});
  }
  std::uint64_t Moved() {
    ++moves_;
    return ++sequence_;
  }
  // From the engine, or from the gate as the grace ends (EndGrace checks
  // those), or passed on by a session from a transport it has left
  // (PassOn checks those).
  void Notified(Peer& peer, LockId id, bool force = false) {
    if (!ending_grace_ && !passing_on_ && !force) {
      Require(peer.Listens() && peer.belief->view == View::kEnqueued &&
                  peer.belief->lock == id,
              "client " + std::to_string(peer.number()) + " was told of lock " +
                  std::to_string(id) + ", which it is not enqueued for");
      Require(ns_->State(id) == LockState::kAcquired,
              "a notice for lock " + std::to_string(id) +
                  ", which the engine does not hold acquired");
    }
    if (force && !passing_on_) {
      Require(forcing_ == id && peer.Listens() && peer.belief->lock == id,
              "client " + std::to_string(peer.number()) +
                  " was told that lock " + std::to_string(id) +
                  " was force-released, which is not its lock being "
                  "force-released");
    }
    notices_.push_back({&peer, id, force});
  }
  // `peer` is being sent an `acquired` frame for lock `id` (`resumed`: a
  // `resumed` frame). A resumed lock that was acquired before needs no
  // grant now: SendGrant's own check when it is written drops the
  // connection instead if the gate no longer grants.
  void Granted(const Peer& peer, LockId id, bool resumed) {
    if (gate_ == nullptr || (resumed && !promoting_)) return;
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
    // A session's window timer: the session, and its epoch when it was set.
    SessionClient* session = nullptr;
    std::uint64_t epoch = 0;
  };
  struct Notice {
    Peer* peer;
    LockId id;
    bool force = false;  // a force release (LockHolder::ForceReleased)
  };
  // The harness's own count of what the metrics should hold.
  struct Counted {
    std::uint64_t requested = 0, acquired = 0, released = 0, cancelled = 0,
                  abandoned = 0;
    std::uint64_t errors[wire::kProtocolErrorKinds] = {};
    std::uint64_t refused_at_ceiling = 0;
    std::uint64_t created = 0, detached = 0, resumed = 0, expired = 0,
                  not_found = 0, detached_now = 0;
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
    const server::SessionCounters& sessions = metrics_.sessions;
    const std::uint64_t want_sessions[] = {
        counted_.created, counted_.detached,  counted_.resumed,
        counted_.expired, counted_.not_found, counted_.detached_now};
    const std::uint64_t got_sessions[] = {
        load(sessions.created),
        load(sessions.detached),
        load(sessions.resumed),
        load(sessions.expired),
        load(sessions.failures[static_cast<std::size_t>(
            server::ResumeFailure::kNotFound)]),
        load(sessions.detached_now)};
    static constexpr const char* kSessionNames[] = {
        "created", "detached",  "resumed",
        "expired", "not found", "detached now"};
    for (std::size_t i = 0; i < 6; ++i) {
      Require(got_sessions[i] == want_sessions[i],
              std::string("metrics: sessions ") + kSessionNames[i] + " is " +
                  std::to_string(got_sessions[i]) + ", the events make it " +
                  std::to_string(want_sessions[i]));
    }
  }

  // Client k connects: a session of its own if `op` is a session event.
  void Connect(std::size_t k, std::uint8_t op) {
    const milliseconds abandon((op & 32) != 0 ? 1000 : 0);
    if (IsSessionOp(op)) return OpenSession(k, abandon);
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

  // A new transport of session `s` (not attached yet).
  Peer& NewTransport(SessionClient& s) {
    auto peer = std::make_shared<Peer>(*this, static_cast<int>(peers_.size()),
                                       s.window, &s);
    s.transports.push_back(peer.get());
    peers_.push_back(std::move(peer));
    return *peers_.back();
  }

  // Client k opens a session with window `window`: its first transport is
  // sent the `new` frame with the token.
  void OpenSession(std::size_t k, milliseconds window) {
    server::ConnectionConfig config;
    config.abandon_timeout = window;
    config.metrics = &metrics_;
    config.gate = gate_.get();
    auto s = std::make_unique<SessionClient>();
    s->number = static_cast<int>(sessions_.size());
    s->window = window;
    s->session = table_->Create(ns_, config);
    Require(s->session != nullptr, "the session table refused a session");
    s->token = s->session->token().Text();
    Require(server::ParseSessionToken(s->token).has_value() &&
                s->session->window() == window,
            "the new session's token is not a token, or its window is wrong");
    Peer& peer = NewTransport(*s);
    Begin(&peer, "client " + std::to_string(peer.number()) +
                     " (k=" + std::to_string(k) + ") opens session " +
                     std::to_string(s->number) + " (window " +
                     std::to_string(window.count()) + " ms)");
    Require(s->session->Attach(peers_.back(), nullptr),
            "a new session refused its first transport");
    ++s->epoch;
    s->attached = &peer;
    ++counted_.created;
    ExpectSessionFrame(
        peer, {.state = wire::SessionFrame::kNew,
               .token = s->token,
               .window_ms = static_cast<std::uint64_t>(window.count())});
    ExpectTimers(0);
    clients_[k] = &peer;
    sessions_.push_back(std::move(s));
  }

  // During this event, `peer` was sent exactly one frame, the session frame
  // `want`, and nobody else anything.
  void ExpectSessionFrame(Peer& peer, const wire::SessionFrame& want) {
    const std::optional<wire::SessionFrame> got =
        peer.frames.size() == frames_before_ + 1
            ? wire::ParseSessionFrame(peer.frames.back())
            : std::nullopt;
    if (!got || *got != want) {
      std::string what = "client " + std::to_string(peer.number()) + " got";
      for (std::size_t i = frames_before_; i < peer.frames.size(); ++i) {
        what += "\n    " + peer.frames[i];
      }
      what += peer.frames.size() == frames_before_ ? " nothing" : "";
      what += "\n  but docs/protocol.md says one session frame: " +
              wire::FormatSessionFrame(want);
      Report(what);
    }
    ExpectNoFramesElsewhere(1);
  }

  // The client sends `text` as one frame.
  void Frame(Peer& peer, std::string_view text) {
    Begin(&peer,
          "client " + std::to_string(peer.number()) + " sends " + Quoted(text));
    peer.OnFrame(text);
    if (peer.ended) {
      Require(ns_->GetStats().last_id == last_id_,
              "a transport that answers no more requested a lock");
      return ExpectFrames(peer, {});
    }

    const auto message = wire::ParseClientMessage(text, peer.config().limits);
    if (const auto* error = std::get_if<wire::ProtocolError>(&message)) {
      return ExpectProtocolError(peer, error->kind);
    }
    using enum wire::ProtocolErrorKind;
    if (std::holds_alternative<wire::LockMessage>(message)) {
      if (peer.belief->view != View::kReady) {
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
      peer.belief->view = acquired ? View::kAcquired : View::kEnqueued;
      peer.belief->lock = id;
      ++counted_.requested;
      if (acquired) ++counted_.acquired;
      return;
    }
    if (peer.belief->view == View::kReady)
      return ExpectProtocolError(peer, kWrongState);
    ++(peer.belief->view == View::kEnqueued ? counted_.cancelled
                                            : counted_.released);
    ExpectFrames(peer, {Answer(peer.belief->lock, "release", "ready")});
    Require(ns_->State(peer.belief->lock) == LockState::kNone,
            "the released lock is still live");
    peer.belief->view = View::kReady;
  }

  void Oversized(Peer& peer) {
    Begin(&peer, "client " + std::to_string(peer.number()) +
                     " sends a frame over the size limit");
    peer.OnOversizedFrame(peer.config().limits.max_message_bytes + 1);
    if (peer.ended) return ExpectFrames(peer, {});
    ExpectProtocolError(peer, wire::ProtocolErrorKind::kOversized);
  }

  // The transport ends.
  void Drop(Peer& peer) {
    Begin(&peer,
          "client " + std::to_string(peer.number()) + "'s transport ends");
    const bool was_ended = peer.ended;
    const std::optional<std::uint16_t> close_code = peer.close_code;
    const std::size_t moves = moves_;
    peer.OnClosed();
    ExpectFrames(peer, {});
    Require(peer.close_code == close_code,
            "the connection asked to close a transport that had ended");
    Require(moves_ == moves, "a transport's end moved a session");
    if (peer.session != nullptr) return Detached(peer);
    if (was_ended) return ExpectTimers(0);
    AfterDrop(peer);
  }

  // A session's transport has ended: if it spoke for the session, the
  // session is detached with its lock as it was (an acquired lock stays
  // acquired, an enqueued one keeps its place) and one timer of its window
  // is set; from any other transport, nothing happens.
  void Detached(Peer& peer) {
    SessionClient& s = *peer.session;
    peer.ended = true;
    if (s.attached != &peer) return ExpectTimers(0);
    s.attached = nullptr;
    ++s.epoch;
    ++counted_.detached;
    ++counted_.detached_now;
    ExpectTimers(1);
    Timer& timer = timers_.back();
    Require(timer.delay == s.window,
            "the window timer is not the session's window");
    timer.session = &s;
    timer.epoch = s.epoch;
    timer.lock = s.belief.view == View::kReady ? 0 : s.belief.lock;
    if (s.belief.view == View::kReady || forced_.contains(s.belief.lock)) {
      return;
    }
    const LockState state = ns_->State(s.belief.lock);
    Require(s.belief.view == View::kAcquired ? state == LockState::kAcquired
                                             : state != LockState::kNone,
            "the detached session's lock was not kept as it was");
  }

  void FireTimer(std::size_t j) {
    Timer timer = std::move(timers_[j]);
    timers_.erase(timers_.begin() + static_cast<std::ptrdiff_t>(j));
    if (timer.session != nullptr) return FireWindow(timer);
    Begin(nullptr, "the abandon timer of client " + std::to_string(timer.peer) +
                       "'s lock " + std::to_string(timer.lock) + " fires");
    Require(ns_->State(timer.lock) == LockState::kAcquired ||
                forced_.contains(timer.lock),
            "the abandoned lock was not acquired until its timer fired");
    timer.fn();
    Require(ns_->State(timer.lock) == LockState::kNone,
            "the abandon timer did not release the lock");
    ExpectTimers(0);
    ExpectNoFrames();
  }

  // A session's window timer: the session ends, and its lock with it
  // (acquired: released; enqueued: cancelled), if it is still detached
  // since that detachment; otherwise nothing happens.
  void FireWindow(Timer& timer) {
    SessionClient& s = *timer.session;
    Begin(nullptr, "the window timer of session " + std::to_string(s.number) +
                       " (set by client " + std::to_string(timer.peer) +
                       ") fires");
    const bool live =
        !s.expired && s.attached == nullptr && timer.epoch == s.epoch;
    const Belief b = s.belief;
    const LockState before =
        b.view == View::kReady ? LockState::kNone : ns_->State(b.lock);
    timer.fn();
    ExpectTimers(0);
    ExpectNoFrames();
    if (!live) {
      log_.back() += ": stale, nothing happens";
      Require(b.view == View::kReady || ns_->State(b.lock) == before,
              "a stale window timer changed the session's lock");
      return;
    }
    s.expired = true;
    ++counted_.expired;
    --counted_.detached_now;
    if (b.view == View::kEnqueued) ++counted_.cancelled;
    if (b.view == View::kAcquired) ++counted_.abandoned;
    Require(b.view == View::kReady || ns_->State(b.lock) == LockState::kNone,
            "the expired session's lock is still live");
    s.belief.view = View::kReady;
  }

  void DeliverNotice(std::size_t j) {
    const Notice notice = notices_[j];
    notices_.erase(notices_.begin() + static_cast<std::ptrdiff_t>(j));
    Peer& peer = *notice.peer;
    Begin(&peer, "client " + std::to_string(peer.number()) + " gets the " +
                     (notice.force ? "force release" : "notice") + " of " +
                     std::to_string(notice.id));
    // A session passes on what reaches a transport it has left to the one
    // attached now (none: the resume asks the engine, or a force release
    // applies at once).
    SessionClient* s = peer.session;
    const bool passes_on =
        s != nullptr && !peer.Listens() &&
        (!notice.force || (s->attached != nullptr && !s->expired));
    const std::size_t before = notices_.size();
    passing_on_ = passes_on;
    if (notice.force) {
      peer.OnForceReleased(notice.id);
    } else {
      peer.OnAcquired(notice.id);
    }
    passing_on_ = false;
    if (passes_on) {
      ExpectNoFrames();
      const bool told = s->attached != nullptr && !s->expired;
      Require(notices_.size() == before + (told ? 1 : 0) &&
                  (!told || (notices_.back().peer == s->attached &&
                             notices_.back().id == notice.id &&
                             notices_.back().force == notice.force)),
              "a notice reached a transport the session had left and was "
              "not passed on to the attached one, once");
      return;
    }
    Require(notices_.size() == before, "a notice caused another");
    if (notice.force) return ForceReleasedNotice(peer, notice.id);
    if (!peer.Listens() || peer.belief->view != View::kEnqueued ||
        peer.belief->lock != notice.id) {
      return ExpectFrames(peer, {});  // stale: released or dropped meanwhile
    }
    Require(ns_->State(notice.id) == LockState::kAcquired ||
                forced_.contains(notice.id),
            "the notified lock is not acquired");
    if (!Announced(peer, notice.id)) return ExpectFrames(peer, {});
    peer.belief->view = View::kAcquired;
    ++counted_.acquired;
    // A session's transport that has closed hears nothing: the resume
    // tells it.
    if (peer.ended) return ExpectFrames(peer, {});
    ExpectFrames(peer, {Answer(notice.id, "lock", "acquired")});
  }

  // `peer`'s Connection (or its session's) is told that an operator ended
  // lock `id`: if it is the lock it has, the lock ends as the client's own
  // release would have; a listening transport gets the reason frame and
  // close code 4000.
  void ForceReleasedNotice(Peer& peer, LockId id) {
    SessionClient* s = peer.session;
    Belief& b = *peer.belief;
    const bool live = s != nullptr ? !s->expired : !peer.ended;
    if (!live || b.view == View::kReady || b.lock != id) {
      return ExpectFrames(peer, {});
    }
    ++(b.view == View::kEnqueued ? counted_.cancelled : counted_.released);
    b.view = View::kReady;
    if (!peer.Listens() || peer.ended) return ExpectFrames(peer, {});
    ExpectFrames(peer, {wire::FormatError(server::kForceReleasedReason)});
    Require(peer.close_code == server::kForceReleasedCloseCode,
            "a force release did not close with 4000");
    AfterDrop(peer);
  }

  // A session event (IsSessionOp) of client k.
  void SessionEvent(std::size_t k, std::uint8_t op, ByteReader& in) {
    Peer& peer = *clients_[k];
    SessionClient* s = peer.session;
    switch (op % 8) {
      case 0:
        if (s != nullptr) Resume(k, *s);
        break;
      case 1:
        if (s != nullptr) FireWindowOf(*s);
        break;
      case 2:
        if (s != nullptr) CorruptTokens(*s, in.Byte());
        break;
      case 3:
        if (Peer* old = Old(s, in)) {
          switch (in.Byte() % 4) {
            case 0:
              Frame(*old, wire::FormatLock(ReadResources(in)));
              break;
            case 1:
              Frame(*old, R"({"action":"release"})");
              break;
            case 2:
              Frame(*old, "x");
              break;
            case 3:
              Oversized(*old);
              break;
          }
        }
        break;
      case 4:
        if (Peer* old = Old(s, in)) Drop(*old);
        break;
      case 5:
        // As the engine's notice of the session's lock, once it has
        // acquired it, reaches a transport the session has left since.
        if (Peer* old = Old(s, in);
            old != nullptr && s->belief.view != View::kReady &&
            ns_->State(s->belief.lock) == LockState::kAcquired) {
          notices_.push_back({old, s->belief.lock});
          DeliverNotice(notices_.size() - 1);
        }
        break;
      case 6:
        ForceRelease(peer);
        break;
      case 7:
        Drop(peer);
        Connect(k, op);
        break;
    }
  }

  // A transport of session `s` that no longer speaks for it, picked by the
  // next byte; null if there is none.
  Peer* Old(SessionClient* s, ByteReader& in) {
    if (s == nullptr) return nullptr;
    std::vector<Peer*> old;
    for (Peer* t : s->transports) {
      if (t != s->attached) old.push_back(t);
    }
    return old.empty() ? nullptr : old[in.Below(old.size())];
  }

  // A new transport presents the session's token (SessionTable::Find) and
  // takes the session over (Attach): an older one still attached is closed
  // with 4409 before the new one hears anything, and the new one is told
  // the lock's state in the `resumed` frame. Once the window has passed,
  // the token is unknown and the session refuses to be attached.
  void Resume(std::size_t k, SessionClient& s) {
    Peer& peer = NewTransport(s);
    Peer* old = s.attached;
    Begin(&peer, "client " + std::to_string(peer.number()) +
                     " (k=" + std::to_string(k) + ") resumes session " +
                     std::to_string(s.number) +
                     (old != nullptr ? ", taking it over from client " +
                                           std::to_string(old->number())
                                     : std::string()));
    clients_[k] = &peer;
    const std::size_t moves = moves_;
    const std::shared_ptr<server::ClientSession> found =
        table_->Find(s.token, kNamespace, kPeerAddress);
    if (s.expired) {
      ++counted_.not_found;
      peer.ended = true;
      Require(found == nullptr, "the token of an expired session was found");
      Require(!s.session->Attach(peers_.back(), nullptr),
              "an expired session was attached");
      Require(moves_ == moves, "a failed resume closed a transport");
      ExpectTimers(0);
      return ExpectNoFrames();
    }
    Require(found == s.session, "the session's own token did not find it");
    Belief& b = s.belief;
    // A lock an operator has ended while its notice is still on its way (to
    // a transport the session has left) is resumed as none: the resume asks
    // the engine, and the notice then finds nothing to end.
    if (b.view != View::kReady && forced_.contains(b.lock)) {
      ++(b.view == View::kEnqueued ? counted_.cancelled : counted_.released);
      b.view = View::kReady;
    }
    // An enqueued lock the engine has acquired meanwhile is resumed
    // acquired, if the gate lets it be announced now.
    promoting_ = b.view == View::kEnqueued &&
                 ns_->State(b.lock) == LockState::kAcquired &&
                 Announced(peer, b.lock);
    if (promoting_) {
      b.view = View::kAcquired;
      ++counted_.acquired;
    }
    Require(found->Attach(peers_.back(), nullptr),
            "a live session refused a resume");
    promoting_ = false;
    ExpectSessionFrame(
        peer,
        {.state = wire::SessionFrame::kResumed,
         .token = s.token,
         .window_ms = static_cast<std::uint64_t>(s.window.count()),
         .id = b.view == View::kReady ? 0 : b.lock,
         .lock = b.view == View::kReady      ? wire::ConnState::kReady
                 : b.view == View::kEnqueued ? wire::ConnState::kEnqueued
                                             : wire::ConnState::kAcquired});
    ExpectTimers(0);
    ++counted_.resumed;
    ++s.epoch;
    s.attached = &peer;
    if (old == nullptr) {
      --counted_.detached_now;
      return Require(moves_ == moves, "a resume closed a transport");
    }
    Require(moves_ == moves + 1 &&
                old->moved_code == server::kSessionMovedCloseCode &&
                old->moved_reason == server::kSessionMovedReason,
            "the transport taken over was not closed once with 4409");
    Require(old->moved_at < peer.first_frame_at,
            "the new transport heard from the session before the old one "
            "was closed");
    old->ended = true;
  }

  // Fires the window timer of session `s`'s latest detachment, if any.
  void FireWindowOf(const SessionClient& s) {
    std::size_t latest = timers_.size();
    for (std::size_t i = 0; i < timers_.size(); ++i) {
      if (timers_[i].session == &s &&
          (latest == timers_.size() ||
           timers_[i].epoch > timers_[latest].epoch)) {
        latest = i;
      }
    }
    if (latest < timers_.size()) FireTimer(latest);
  }

  // Every token that is not the session's, each differing from it in one
  // byte (of the ID, the dot or the secret; `b` picks the replacements) or
  // in its length, and the true token in another namespace, is refused
  // (SessionTable::Find finds nothing), and the session is untouched.
  void CorruptTokens(const SessionClient& s, std::uint8_t b) {
    Begin(nullptr, "corrupted tokens of session " + std::to_string(s.number) +
                       " try to resume it (" + std::to_string(b) + ")");
    // Candidate replacements: hex digits of either case (a token has one
    // spelling: its ID in upper case is another, unknown token), base64url,
    // and characters a token never has.
    static constexpr std::string_view kChars =
        "0123456789abcdefABCDEF-_gzGZ.=%+/ ";
    const std::string& token = s.token;
    std::vector<std::pair<std::string, std::string_view>> tries;
    for (std::size_t i = 0; i < token.size(); ++i) {
      std::string wrong = token;
      std::size_t j = b + i;
      char c = 0;
      do {
        c = kChars[j++ % kChars.size()];
      } while (c == token[i]);
      wrong[i] = c;
      tries.emplace_back(std::move(wrong), kNamespace);
    }
    tries.emplace_back(token.substr(0, token.size() - 1), kNamespace);
    tries.emplace_back(token.substr(0, b % token.size()), kNamespace);
    tries.emplace_back(token + kChars[b % kChars.size()], kNamespace);
    tries.emplace_back(token.substr(1), kNamespace);
    tries.emplace_back(token, "another");
    tries.emplace_back(token, "");
    const LockState before = s.belief.view == View::kReady
                                 ? LockState::kNone
                                 : ns_->State(s.belief.lock);
    const std::size_t moves = moves_;
    for (const auto& [text, ns] : tries) {
      ++counted_.not_found;
      Require(table_->Find(text, ns, kPeerAddress) == nullptr,
              "the token " + text + " in namespace [" + std::string(ns) +
                  "] found session " + std::to_string(s.number) +
                  ", whose token is " + token);
    }
    ExpectNoFrames();
    ExpectTimers(0);
    Require(moves_ == moves, "a refused token moved a session");
    Require(
        s.belief.view == View::kReady || ns_->State(s.belief.lock) == before,
        "a refused token changed the session's lock");
    Require(
        s.expired || table_->Find(token, kNamespace, kPeerAddress) == s.session,
        "after refused tokens the session's own token does not find it");
  }

  // An operator ends client k's lock (ForceRelease, as DELETE /locks_v1
  // does): the engine no longer has it; a detached session's Connection
  // is told at once, a listening transport gets a notice.
  void ForceRelease(Peer& peer) {
    Belief& b = *peer.belief;
    if (b.view == View::kReady || ns_->State(b.lock) == LockState::kNone) {
      return Begin(nullptr, "client " + std::to_string(peer.number()) +
                                " has no live lock to force-release");
    }
    Begin(&peer, "an operator force-releases lock " + std::to_string(b.lock) +
                     " of client " + std::to_string(peer.number()));
    const LockState state = ns_->State(b.lock);
    const bool detached =
        peer.session != nullptr && peer.session->attached == nullptr;
    const std::size_t before = notices_.size();
    forcing_ = b.lock;
    const std::optional<server::ForcedRelease> forced =
        server::ForceRelease(*service_, kNamespace, b.lock);
    forcing_ = 0;
    forced_.insert(b.lock);
    Require(forced.has_value() && forced->state == state &&
                forced->detached == detached,
            "the force release did not end the live lock as it was");
    Require(ns_->State(b.lock) == LockState::kNone,
            "the force-released lock is still live");
    ExpectNoFrames();
    ExpectTimers(0);
    std::size_t told = 0;
    for (std::size_t i = before; i < notices_.size(); ++i) {
      told += notices_[i].force ? 1 : 0;
    }
    if (!detached) {
      return Require(told == 1,
                     "the lock's transport was not told once of "
                     "its force release");
    }
    Require(told == 0, "a detached session's transport was told");
    ++(b.view == View::kEnqueued ? counted_.cancelled : counted_.released);
    b.view = View::kReady;
  }

  // Whose lock a transport's is: its session's, or its own.
  static const void* Owner(const Peer* peer) {
    return peer->session != nullptr ? static_cast<const void*>(peer->session)
                                    : peer;
  }
  // Whether notices for the owner's lock reach a transport now.
  static bool OwnerListens(const Peer& peer) {
    return peer.session != nullptr ? peer.session->attached != nullptr
                                   : !peer.ended;
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
        return Owner(h.peer) == Owner(told.peer) && h.id == told.id;
      });
      Require(it != held.end(), "the grace's end told client " +
                                    std::to_string(told.peer->number()) +
                                    " of lock " + std::to_string(told.id) +
                                    ", which the grace did not hold");
      held.erase(it);
    }
    for (const Notice& h : held) {
      Require(!OwnerListens(*h.peer) ||
                  h.peer->belief->view != View::kEnqueued ||
                  h.peer->belief->lock != h.id,
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
    // A session's lock outlives its transports.
    if (peer.session != nullptr) return ExpectTimers(0);
    if (peer.belief->view == View::kEnqueued) ++counted_.cancelled;
    if (peer.belief->view == View::kAcquired) ++counted_.abandoned;
    const LockState state = ns_->State(peer.belief->lock);
    const milliseconds abandon = peer.config().abandon_timeout;
    if (peer.belief->view == View::kAcquired && abandon.count() > 0) {
      Require(
          state == LockState::kAcquired || forced_.contains(peer.belief->lock),
          "the dropped acquired lock was not kept for its abandon timeout");
      ExpectTimers(1);
      Require(timers_.back().delay == abandon,
              "the abandon timer is not the abandon timeout");
      timers_.back().lock = peer.belief->lock;
    } else {
      Require(peer.belief->view == View::kReady || state == LockState::kNone,
              "the dropped connection's lock is still live");
      ExpectTimers(0);
    }
    peer.belief->view = View::kReady;
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
  server::NamespaceHold ns_ = service_->Open(kNamespace);
  server::Metrics metrics_{/*per_namespace_labels=*/true};
  const std::shared_ptr<server::SessionTable> table_ =
      std::make_shared<server::SessionTable>(/*max_sessions=*/1024, &metrics_);
  std::vector<std::unique_ptr<SessionClient>> sessions_;  // ever opened
  std::unique_ptr<GrantGate> gate_;                       // null: no gate
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
  std::uint64_t sequence_ = 0;  // of every frame and CloseSoon
  std::size_t moves_ = 0;       // CloseSoon calls
  bool passing_on_ = false;     // a session passes a notice on
  bool promoting_ = false;      // a resume announces a lock acquired now
  LockId forcing_ = 0;          // the lock being force-released
  std::set<LockId> forced_;     // ended by an operator
  std::size_t sent_before_ = 0;
  std::size_t timers_before_ = 0;
  std::size_t frames_before_ = 0;
};

// Every `acquired` frame, and only such a frame, goes through SendGrant, so
// that the network shell checks the grant window again when it writes it.
constexpr std::string_view kAcquired = R"("state":"acquired")";

// The lock a frame announces acquired: an answer's, or a `resumed` frame's;
// 0 if it announces none.
LockId AcquiredIn(std::string_view text) {
  if (const auto frame = wire::ParseSessionFrame(text)) {
    return frame->lock == wire::ConnState::kAcquired ? frame->id : 0;
  }
  return text.find(kAcquired) != std::string::npos ? IdOf(text) : 0;
}

void Peer::Send(std::string text) {
  conversation_.Require(
      AcquiredIn(text) == 0,
      "client " + std::to_string(number_) +
          " was told of an acquisition without SendGrant: " + text);
  Receive(std::move(text));
}

void Peer::SendGrant(std::string text) {
  const LockId id = AcquiredIn(text);
  conversation_.Require(id != 0, "client " + std::to_string(number_) +
                                     " got a frame through SendGrant that is "
                                     "not an acquisition: " +
                                     text);
  conversation_.Granted(*this, id, wire::ParseSessionFrame(text).has_value());
  Receive(std::move(text));
}

void Peer::Receive(std::string text) {
  conversation_.Require(!close_code && !moved_code,
                        "client " + std::to_string(number_) +
                            " got a frame after the close: " + text);
  frames.push_back(std::move(text));
  const std::uint64_t at = conversation_.Sent();
  if (first_frame_at == 0) first_frame_at = at;
}

void Peer::CloseSoon(std::uint16_t code, std::string reason) {
  conversation_.Require(session != nullptr && !moved_code,
                        "client " + std::to_string(number_) +
                            " was closed from another strand twice, or is "
                            "not a session's");
  moved_code = code;
  moved_reason = std::move(reason);
  moved_at = conversation_.Moved();
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
  conversation_.Notified(*this, id, /*force=*/true);
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
