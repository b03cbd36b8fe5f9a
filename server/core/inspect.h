// The lock inspector's server side: one namespace's live locks, each with
// who holds or waits for it and what it waits for (GET /locks_v1, the
// dashboard, locktopusctl locks/why). The engine answers the query
// (LockSpace::Inspect); this adds what only the server knows — the client
// behind each lock and its times — as the values of /locks_v1
// (wire/pages.h).
//
// Thread safety: InspectLocks may be called from any thread; it holds the
// service's mutex, then the namespace's, for the engine's bounded query
// only. The pages are plain values.

#ifndef LOCKTOPUS_SERVER_CORE_INSPECT_H_
#define LOCKTOPUS_SERVER_CORE_INSPECT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/types.h"
#include "server/core/lock_service.h"
#include "wire/pages.h"

namespace locktopus::server {

// Who asked for a lock, as its connection knew it. The record outlives the
// connection while an abandoned lock waits for its timer.
struct HolderInfo {
  std::string client_name;       // the `client` parameter of /v1; "" if none
  std::uint64_t connection = 0;  // the number logs call "client N"
  std::string peer;              // address:port of the connection
};

// The connection as the log names it: `client N (client name "NAME")`,
// without the name when it has none.
std::string LogName(const HolderInfo& holder);

// The transport of one connection, as the records of its locks know it:
// told that a lock was acquired (Waiter::Notify) or ended by an operator
// (ForceReleased), from any thread; it passes both on to its Connection on
// the connection's own strand.
class LockHolder : public Waiter {
 public:
  // Lock `id`, requested through this transport, is no longer live: an
  // operator ended it (force_release.h). Must not block.
  virtual void ForceReleased(LockId id) = 0;
};
using LockHolderRef = std::weak_ptr<LockHolder>;

// The waiter of one lock a connection requests (engine/types.h's Waiter):
// passes its acquisition notice on to the connection's transport, and keeps
// what the inspector shows of it. The connection owns it while the lock is
// its own; an abandoned lock's timer owns it until the lock is released,
// and it holds the lock's namespace open until then (Abandon).
// The engine keeps it, weakly, for the lock's life.
//
// Thread safety: Notify, ForceReleased and the readers may run on any
// thread; the times are atomics, the holder and the abandonment's hold are
// under a mutex, the rest is set before the lock is requested.
class LockRecord final : public Waiter {
 public:
  using Clock = std::chrono::steady_clock;

  LockRecord(LockHolderRef transport, std::shared_ptr<const HolderInfo> holder,
             Clock::time_point requested_at)
      : transport_(std::move(transport)),
        requested_at_(requested_at),
        holder_(std::move(holder)) {}

  void Notify(LockId id) override {
    if (auto transport = transport_.lock()) transport->Notify(id);
  }

  // An operator has ended lock `id`, this record's (it is no longer live):
  // an abandonment ends without a release of its own (EndAbandonment), and
  // the transport, if it is still there, is told.
  void ForceReleased(LockId id);

  // The connection's, or null (a connection made without one: tests). For a
  // session's lock, the connection that speaks for the session now.
  std::shared_ptr<const HolderInfo> holder() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return holder_;
  }
  // A resume: another connection speaks for the lock's session.
  void SetHolder(std::shared_ptr<const HolderInfo> holder) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    holder_ = std::move(holder);
  }
  Clock::time_point requested_at() const { return requested_at_; }
  // When its client was told it is acquired; nullopt before.
  std::optional<Clock::time_point> acquired_at() const {
    return Load(acquired_at_);
  }
  void SetAcquired(Clock::time_point at) { Store(acquired_at_, at); }
  // When it is released, abandoned by its connection, or ended, left by its
  // detached session; nullopt while a connection speaks for it.
  std::optional<Clock::time_point> released_at() const {
    return Load(released_at_);
  }
  // Its connection has ended while it was acquired: it is to be released at
  // `release_at`, and `ns`, its namespace, is held until then (unless the
  // abandonment has ended already: an operator was first).
  void Abandon(Clock::time_point release_at, NamespaceHold ns) EXCLUDES(mu_);
  // Its session is detached until `until` (session.h): shown as detached,
  // to be ended then; nullopt: a transport speaks for it again.
  void SetDetached(std::optional<Clock::time_point> until) {
    detached_.store(until.has_value(), std::memory_order_relaxed);
    if (until) {
      Store(released_at_, *until);
    } else {
      released_at_.store(kUnset, std::memory_order_release);
    }
  }
  bool detached() const { return detached_.load(std::memory_order_relaxed); }
  // Ends the abandonment for good: its namespace's hold, through which the
  // caller releases the lock; empty if it has ended already (an operator
  // released the lock) or never began.
  NamespaceHold EndAbandonment() EXCLUDES(mu_);

 private:
  static constexpr Clock::rep kUnset = std::numeric_limits<Clock::rep>::min();
  static std::optional<Clock::time_point> Load(
      const std::atomic<Clock::rep>& at) {
    const Clock::rep ticks = at.load(std::memory_order_acquire);
    if (ticks == kUnset) return std::nullopt;
    return Clock::time_point(Clock::duration(ticks));
  }
  static void Store(std::atomic<Clock::rep>& at, Clock::time_point value) {
    at.store(value.time_since_epoch().count(), std::memory_order_release);
  }

  const LockHolderRef transport_;
  const Clock::time_point requested_at_;
  std::atomic<Clock::rep> acquired_at_{kUnset};
  std::atomic<Clock::rep> released_at_{kUnset};
  std::atomic<bool> detached_{false};
  mutable Mutex mu_;
  std::shared_ptr<const HolderInfo> holder_ GUARDED_BY(mu_);
  NamespaceHold abandoned_ GUARDED_BY(mu_);
  bool ended_ GUARDED_BY(mu_) = false;  // EndAbandonment has run
};

// The live locks of namespace `ns` that `query` asks for, as /locks_v1
// lists them, or nullopt when the namespace is not open (never opened, or
// freed: no live lock). Never opens a namespace. Each lock shows its
// record's holder (wire::ListedLock's client_name, connection and peer;
// once the lock is abandoned, no connection: it is gone) and times; a lock
// without a record (none in the server) shows neither.
std::optional<wire::LocksPage> InspectLocks(const LockService& service,
                                            std::string_view ns,
                                            const InspectQuery& query);

// How long a namespace's oldest enqueued lock has waited and its oldest
// acquired lock has been held (LockSpace::Oldest, timed by their
// LockRecords); zero when there is none, or it has no record.
struct OldestAges {
  std::chrono::nanoseconds enqueued{0};
  std::chrono::nanoseconds acquired{0};
};
OldestAges AgesOf(const OldestLocks& oldest, LockRecord::Clock::time_point now);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_INSPECT_H_
