// One client connection's protocol state machine (docs/protocol.md's
// conversation table), free of sockets: the transport feeds it frames and
// events, and it answers through ConnectionIo. The fuzzers and unit tests
// drive it with a fake transport.
//
// Thread safety: not thread-safe; the transport calls every method on the
// connection's own strand. Notices from other connections reach it through
// Waiter::Notify, which the transport posts to that strand as OnAcquired;
// an operator's force release through LockHolder::ForceReleased, posted as
// OnForceReleased.
//
// The connection holds its namespace open until it has ended (OnClosed);
// an abandoned lock's timer holds it until the timer has released the lock.
// Every end ends its lock: a Connection destroyed without OnClosed (its
// transport's chain cut short by an exception, say) runs it then.

#ifndef LOCKTOPUS_SERVER_CORE_CONNECTION_H_
#define LOCKTOPUS_SERVER_CORE_CONNECTION_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "server/core/ha/gate.h"
#include "server/core/inspect.h"
#include "server/core/lock_service.h"
#include "server/core/metrics.h"
#include "wire/codec.h"

namespace locktopus::server {

// What the state machine needs from the world.
class ConnectionIo {
 public:
  virtual ~ConnectionIo() = default;
  // Queues one text frame; frames go out in call order.
  virtual void Send(std::string text) = 0;
  // Queues an `acquired` frame, which is written only if the gate (if any)
  // is still Granting when its turn comes; otherwise the connection is
  // dropped instead (ha/gate.h).
  virtual void SendGrant(std::string text) = 0;
  // Closes with `code` once the queued frames are out.
  virtual void Close(std::uint16_t code, std::string_view reason) = 0;
  // The gate's clock (ha/gate.h), read before every announcement.
  virtual ha::Time Now() = 0;
  // Runs `fn` once after `delay`, even if the connection has ended by then.
  virtual void After(std::chrono::milliseconds delay,
                     std::function<void()> fn) = 0;
};

// Runs `fn` once after `delay`, from any thread: a timer without a
// connection (an adopted session's window, an adopted lock's abandonment;
// adopt.h).
using TimerFn =
    std::function<void(std::chrono::milliseconds delay, std::function<void()>)>;

inline constexpr std::uint16_t kProtocolErrorCloseCode = 3000;
// RFC 6455 "try again later": a lock refused through no fault of the client.
inline constexpr std::uint16_t kTryAgainLaterCloseCode = 1013;
// The connection's lock was ended by an operator (force_release.h).
inline constexpr std::uint16_t kForceReleasedCloseCode = 4000;
inline constexpr std::string_view kForceReleasedReason =
    "lock released by an operator";

struct ConnectionConfig {
  std::chrono::milliseconds abandon_timeout{60'000};
  wire::MessageLimits limits;
  bool log_locks = false;  // log each request, acquisition and release
  // While set, the server is shutting down and refuses new locks.
  const std::atomic<bool>* draining = nullptr;
  // Where lock events, their durations and protocol errors are counted;
  // nullptr: nowhere.
  Metrics* metrics = nullptr;
  // In HA mode or with --state-dir: asked before every `acquired` frame
  // (ha/gate.h); nullptr: always grant.
  ha::GrantGate* gate = nullptr;
  // Who the client is, for the inspector (LockRecord); null: not shown.
  std::shared_ptr<const HolderInfo> holder;
  // A session's connection (session.h): the end of a transport detaches it
  // rather than ending it (Detach, Attach, Expire).
  bool session = false;
  // Its session's token ID, which owns its locks (ha/replication.h's
  // Owner); 0: a plain connection.
  std::uint64_t session_id = 0;
  bool log_clients = false;  // log each session's events
};

class Connection {
 public:
  // `self` is told of this connection's acquisitions and force releases
  // (through each lock's LockRecord): the transport, which posts them back
  // here as OnAcquired and OnForceReleased.
  Connection(NamespaceHold ns, const ConnectionConfig& config, ConnectionIo& io,
             LockHolderRef self);
  // Runs OnClosed if nothing has; `io` must still be usable.
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One whole frame from the client.
  void OnFrame(std::string_view text);

  // A message over the size limit, which the transport refused to buffer.
  void OnOversizedFrame(std::size_t size_at_least);

  // Lock `id` was acquired (a notice from Waiter::Notify). Stale notices, for
  // a lock this connection released meanwhile or after it ended, are
  // ignored.
  void OnAcquired(LockId id);

  // Lock `id` was ended by an operator: it is no longer live. If it is this
  // connection's current lock, the client gets the reason frame and close
  // code 4000, and the connection ends without a release of its own; a
  // notice for a lock it no longer has is ignored.
  void OnForceReleased(LockId id);

  // The transport has ended, for any reason. The lock is cancelled if
  // enqueued, abandoned for the abandon timeout if acquired; then the
  // namespace is no longer held by this connection. Idempotent.
  void OnClosed();

  wire::ConnState state() const { return state_; }
  // The current lock's ID; 0 in state ready.
  LockId lock_id() const {
    return state_ == wire::ConnState::kReady ? 0 : lock_id_;
  }

  // ---- A session's connection (ConnectionConfig::session, session.h) ----
  // A closing answer (a protocol error, 1013, 4000) ends only the
  // transport; its session detaches when the transport reports its end.

  // Its transport has ended; its session keeps the lock until `until`:
  // nothing is read or sent; an enqueued lock keeps its place, and an
  // acquisition meanwhile is left to Attach to announce.
  void Detach(LockRecord::Clock::time_point until);
  // A transport has taken the session over (or is its first): frames are
  // read again, and the state to tell it is returned. An enqueued lock the
  // engine has acquired meanwhile is acquired now, if the gate lets it be
  // announced (the caller announces it in its `resumed` frame).
  wire::ConnState Attach();
  // The session's window has passed with no resume: the lock ends as a
  // dropped connection's with no abandon timeout (acquired: released at
  // once; enqueued: cancelled), and the namespace is let go.
  void Expire();

  // ---- Adoption (adopt.h): a lock a new HA active takes over ----

  // Makes lock `id` on `resources` this connection's, as if its client had
  // just requested it: requested in the engine for `owner` (the lock's
  // owner on the predecessor), where it must get the namespace's next ID
  // (LockService::OpenAt, Namespace::SkipTo), and counted requested, and
  // acquired if the engine acquires it at once. Nothing is sent and the
  // gate is not asked: a session's client learns the state when it resumes;
  // a plain connection's never does (the caller ends the connection, which
  // abandons its lock). False, changing nothing, if the connection has
  // ended or has a lock; false, the lock ended again, if the engine gave
  // another ID.
  bool Adopt(LockId id, std::span<const Resource> resources,
             const ha::Owner& owner);

 private:
  void Lock(const wire::LockMessage& message);
  // Whether the client may be told now that lock_id_, acquired in the
  // engine, is acquired. If not, it reads `enqueued` meanwhile: a held
  // acquisition (grace) comes back through OnAcquired; a refused one is
  // never announced (the server is being fenced).
  bool MayAnnounce();
  void Release();
  // A protocol error: the reason frame, close code 3000, then as a drop.
  void Fail(wire::ProtocolErrorKind kind, std::string_view reason);
  // A lock the server cannot take now: the reason frame, close code 1013,
  // then as a drop (the connection holds no lock).
  void Overloaded(std::string_view reason);
  // After a closing answer: a plain connection ends now (OnClosed); a
  // session's reads nothing more, and detaches when its transport ends.
  void HangUp();
  void Log(std::string_view event);
  // Metrics: counts one lock event (also per namespace if asked for).
  void Count(Counter LockCounters::*counter);
  void CountAcquired();
  void CountReleased();

  using Clock = std::chrono::steady_clock;

  NamespaceHold ns_;  // empty once closed
  const ConnectionConfig& config_;
  ConnectionIo& io_;
  const LockHolderRef self_;
  wire::ConnState state_ = wire::ConnState::kReady;
  LockId lock_id_ = 0;
  // The current lock's waiter, which the engine keeps weakly; reset when
  // the lock ends, or handed to its abandon timer.
  std::shared_ptr<LockRecord> record_;
  std::string resources_;           // the current lock's resources, for logs
  Clock::time_point requested_at_;  // of the current lock
  Clock::time_point acquired_at_;   // with metrics
  bool closed_ = false;
};

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_CONNECTION_H_
