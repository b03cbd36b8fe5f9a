// May this server tell a client, now, that its lock is acquired? The one
// question the lock path asks of the HA role (docs/ha.md, Roles). Kept by the
// role logic (role.h: node.h, standalone.h); read by every Connection before it
// sends an `acquired` frame, with a few atomic loads and no lock. A server
// without HA and without --state-dir has no gate and always grants.
//
//   closed   not elected (standby), or fenced: grant nothing
//   grace    elected, but the predecessor's locks may still be in use until
//            grace_until: acquisitions are held (the client still reads
//            `enqueued`) and announced when the grace ends
//   open     grant, while now < grant_until
//
// And an acquisition whose ID is above the group's durable ID ceiling (the
// highest ID that a successor is sure to start above) is never announced;
// the role logic raises the ceiling in etcd long before: an ID at or above
// raise_at asks it to (once per raise).
//
// grant_until is the end of the window that the last confirmation of
// leadership bought: the time its read was *sent* plus the lease TTL minus
// a safety margin. Past it, nothing is granted, even if no timer has fired
// yet (a process paused past its window must not grant when it wakes), and
// the role logic fences the server.
//
// Thread safety: Decide may run on any thread, concurrently with the role
// logic's writes. The held acquisitions are under a mutex, touched only
// during grace.

#ifndef LOCKTOPUS_SERVER_CORE_HA_GATE_H_
#define LOCKTOPUS_SERVER_CORE_HA_GATE_H_

#include <time.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <utility>
#include <vector>

#include "engine/thread_annotations.h"
#include "engine/types.h"

namespace locktopus::server::ha {

// The clock of every HA deadline: monotonic, and counting the time the
// machine spent suspended (CLOCK_BOOTTIME), which CLOCK_MONOTONIC (and so
// std::chrono::steady_clock) does not on Linux. Leadership leases expire in
// etcd while a host or VM is suspended: an active resumed past its window
// must find the window passed, not where it was at the suspend.
struct BootClock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<BootClock>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return time_point(std::chrono::seconds(ts.tv_sec) +
                      std::chrono::nanoseconds(ts.tv_nsec));
  }
};

using Clock = BootClock;
using Time = Clock::time_point;

class GrantGate {
 public:
  enum class Phase { kClosed, kGrace, kOpen };
  enum class Decision {
    kGrant,  // tell the client
    kHold,   // grace: hand the acquisition to Hold; it is announced later
    kRefuse  // not the active, or its window has passed: tell nobody
  };

  // The decision for announcing lock `id` now.
  Decision Decide(Time now, LockId id) {
    const Phase phase = phase_.load(std::memory_order_acquire);
    if (phase == Phase::kClosed) return Decision::kRefuse;
    NoteIssued(id);
    if (id > id_limit_.load(std::memory_order_acquire)) {
      return Decision::kRefuse;
    }
    if (now >= Time(Time::duration(grant_until_.load()))) {
      return Decision::kRefuse;
    }
    if (phase == Phase::kGrace &&
        now < Time(Time::duration(grace_until_.load()))) {
      return Decision::kHold;
    }
    return Decision::kGrant;
  }

  // Decide, and hold a kHold for `waiter` (Waiter::Notify when the grace
  // ends): whether the acquisition of lock `id` may be announced now. The
  // one decide-or-hold step of every caller.
  bool Announce(Time now, LockId id, const WaiterRef& waiter) {
    for (;;) {
      switch (Decide(now, id)) {
        case Decision::kGrant:
          return true;
        case Decision::kRefuse:
          return false;
        case Decision::kHold:
          // Announced when the grace ends; if it ended just now (EndGrace
          // ran between the two), decide again: the phase has moved on.
          if (Hold(waiter, id, now)) return false;
          break;
      }
    }
  }

  // Lock `id` was issued (answered enqueued or acquired, or about to be
  // refused at the ceiling): an ID at or above raise_at asks for the next
  // raise, once per raise. Asked of every issued ID, not only of those
  // announced as acquired, so that a namespace whose locks only queue and
  // cancel still gets its ceiling raised.
  void NoteIssued(LockId id) {
    if (id >= raise_at_.load(std::memory_order_relaxed) &&
        !raise_asked_.exchange(true)) {
      on_raise_();
    }
  }

  // The role logic's side. Called once, before any Decide: asked (from
  // whichever thread's Decide saw the first ID at or above raise_at) to raise
  // the ceiling; must not block.
  void OnRaise(std::function<void()> fn) { on_raise_ = std::move(fn); }
  // No ID above `limit` is announced; `raise_at` asks for the next raise.
  void SetIdLimit(LockId limit, LockId raise_at) {
    id_limit_.store(limit, std::memory_order_release);
    raise_at_.store(raise_at, std::memory_order_relaxed);
    raise_asked_.store(false);
  }
  // The durable ceiling `ceiling`, raised by `block` at a time: a raise is
  // asked for at its middle, long before IDs reach it.
  void SetCeiling(LockId ceiling, LockId block) {
    SetIdLimit(ceiling, ceiling - block / 2);
  }
  LockId id_limit() const { return id_limit_.load(); }

  // Grace or open, with the window `grant_until`.
  void Enter(Phase phase, Time grace_until, Time grant_until) {
    grace_until_.store(grace_until.time_since_epoch().count());
    grant_until_.store(grant_until.time_since_epoch().count());
    phase_.store(phase, std::memory_order_release);
  }
  // A new confirmation: the window ends later (never earlier).
  void Extend(Time grant_until) {
    const auto until = grant_until.time_since_epoch().count();
    auto current = grant_until_.load();
    while (current < until &&
           !grant_until_.compare_exchange_weak(current, until)) {
    }
  }
  void Close() { phase_.store(Phase::kClosed, std::memory_order_release); }
  // Whether a grant decided earlier may still reach its client at `now`:
  // the gate is not closed and the window lasts. Asked again when the
  // `acquired` frame is written, since a pause between queueing it and
  // writing it may outlast the window.
  bool Granting(Time now) const {
    return phase_.load(std::memory_order_acquire) != Phase::kClosed &&
           now < Time(Time::duration(grant_until_.load()));
  }
  Phase phase() const { return phase_.load(std::memory_order_acquire); }
  Time grant_until() const { return Time(Time::duration(grant_until_.load())); }
  Time grace_until() const { return Time(Time::duration(grace_until_.load())); }

  // Keeps an acquisition to announce once the grace has passed, if the
  // grace still lasts at `now`; false if it does not (then Decide again).
  bool Hold(WaiterRef waiter, LockId id, Time now) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (phase_.load() != Phase::kGrace ||
        now >= Time(Time::duration(grace_until_.load()))) {
      return false;
    }
    held_.emplace_back(std::move(waiter), id);
    return true;
  }
  // Ends the grace: the gate opens (the window stays), and every held
  // acquisition is announced: its waiter is told (Waiter::Notify) after the
  // phase has left grace, so that no Hold adds to them afterwards, and
  // outside this gate's mutex.
  void EndGrace(Time now) EXCLUDES(mu_) {
    Enter(Phase::kOpen, now, grant_until());
    std::vector<std::pair<WaiterRef, LockId>> held;
    {
      MutexLock lock(mu_);
      held = std::exchange(held_, {});
    }
    for (auto& [waiter, id] : held) {
      if (auto w = waiter.lock()) w->Notify(id);
    }
  }

 private:
  std::function<void()> on_raise_ = [] {};
  std::atomic<LockId> id_limit_{0};
  std::atomic<LockId> raise_at_{0};
  std::atomic<bool> raise_asked_{false};
  std::atomic<Phase> phase_{Phase::kClosed};
  std::atomic<Time::rep> grace_until_{0};
  std::atomic<Time::rep> grant_until_{0};
  Mutex mu_;
  std::vector<std::pair<WaiterRef, LockId>> held_ GUARDED_BY(mu_);
};

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_GATE_H_
