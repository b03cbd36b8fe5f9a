// The lock engine's public interface: one LockSpace per namespace. With
// engine/id_marks.h (what freed namespaces leave behind), the only engine
// headers the server, the tools and the tests include.
//
// Semantics: docs/semantics.md. A live lock is acquired at the first moment at
// which no live lock with a smaller ID conflicts with it.
//
// Complexity (docs/internals.md, The engine), amortised over a lock's life:
//   - Request: O(total path length of its resources), independent of how many
//     locks are live elsewhere;
//   - Release: O(its total path length) plus O(1) per lock it acquires;
//   - N compatible holders of one path do not make each other's steps O(N);
//   - Inspect: proportional to what it returns and to its path's length,
//     never to the number of live locks (see Inspect).
// TEST_Work() counts the elementary steps (nodes touched, entries visited) so
// that tests can assert these bounds without measuring time.
//
// Memory: a space accounts the heap bytes of its lock state (nodes, entries,
// locks, indexes; an idle space holds none) and charges them to a
// MemoryBudget shared by the spaces of a server, if it is given one.
// TryRequest refuses a lock the budget cannot cover in the worst case
// (every node of its paths new), before changing anything; a large lock
// also leaves the budget's reserve for small ones (MemoryBudget), so a
// flood of large locks cannot crowd out ordinary ones.
//
// Exceptions: a step that throws (std::bad_alloc) changes nothing: no lock,
// no ID, no step number, no statistic.
//
// Thread safety: every method of LockSpace and MemoryBudget may be called
// from any thread. A LockSpace serialises its steps with one mutex; steps in
// different spaces never contend. Nothing calls out while holding the mutex:
// a step returns the waiters of the locks it acquired, and the caller tells
// them. The budget is one atomic counter, updated under a space's mutex.

#ifndef LOCKTOPUS_ENGINE_ENGINE_H_
#define LOCKTOPUS_ENGINE_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "engine/thread_annotations.h"
#include "engine/types.h"

namespace locktopus {

class LockTable;

// Heap bytes of lock state that spaces may hold together: charged by each
// lock before it is built, credited as locks go. used() may exceed limit()
// only by what Charge adds (spaces without a refusal path).
//
// The last eighth of the limit is kept for small locks: a lock whose own
// blocks (nodes, entries) may take more than 1/1024 of the limit is granted
// only while an eighth stays free after it. However many of the largest
// locks the message limits allow come, the ordinary ones — a few hundred
// bytes each — keep an eighth of the budget to themselves.
class MemoryBudget {
 public:
  static constexpr std::uint64_t kSmallLockDivisor = 1024;
  static constexpr std::uint64_t kReserveDivisor = 8;

  explicit MemoryBudget(std::uint64_t limit) : limit_(limit) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  std::uint64_t limit() const { return limit_; }
  std::uint64_t used() const { return used_.load(std::memory_order_relaxed); }

  // Adds `bytes` if used() then leaves at least `spare` bytes under the
  // limit; false, adding nothing, otherwise.
  bool TryCharge(std::uint64_t bytes, std::uint64_t spare = 0);
  // Charges a lock `bytes` in all, of which `own` are its own blocks: as
  // TryCharge, keeping the reserve of small locks from a large one.
  bool TryChargeLock(std::uint64_t bytes, std::uint64_t own);
  // Adds `bytes` whatever the limit.
  void Charge(std::uint64_t bytes);
  void Credit(std::uint64_t bytes);

 private:
  const std::uint64_t limit_;
  std::atomic<std::uint64_t> used_{0};
};

// The locks of one namespace.
class LockSpace {
 public:
  // The first lock gets ID last_id + 1. `budget`, if not null, must outlive
  // the space; the space charges it what its locks make it hold.
  explicit LockSpace(LockId last_id = 0, MemoryBudget* budget = nullptr);
  ~LockSpace();
  LockSpace(const LockSpace&) = delete;
  LockSpace& operator=(const LockSpace&) = delete;

  // Starts a lock on `resources` (an empty list conflicts with nothing) with
  // the next ID of this space. Returns the ID and whether it was acquired now.
  // `waiter` is kept with the lock for its life: returned with its
  // acquisition (ReleaseResult::acquired) if it was enqueued, and by
  // Inspect.
  RequestResult Request(std::span<const Resource> resources,
                        const WaiterRef& waiter = {}) EXCLUDES(mu_);

  // As Request, but a lock whose worst-case cost the budget cannot cover
  // (MemoryBudget::TryChargeLock) is refused: nullopt, and nothing changed
  // (no ID, no step).
  // Charges the budget what the lock holds. Without a budget, never
  // refused. Request charges it too, whatever its limit.
  std::optional<RequestResult> TryRequest(std::span<const Resource> resources,
                                          const WaiterRef& waiter = {})
      EXCLUDES(mu_);

  // Ends lock `id`: releases it if acquired, cancels it if enqueued. Returns
  // found=false, changing nothing, if `id` is not live.
  ReleaseResult Release(LockId id) EXCLUDES(mu_);

  // Raises the last issued ID to `last_id` if it is higher: the next lock
  // gets an ID above it. Never lowers it. Not a step: no lock changes, and
  // the step numbers go on as before. A replica rebuilds a namespace whose
  // live IDs have gaps with it (server/core/ha/replication.h).
  void SkipTo(LockId last_id) EXCLUDES(mu_);

  LockState State(LockId id) const EXCLUDES(mu_);
  // The waiter that lock `id`'s request named, while the lock is live;
  // empty otherwise (or if the request named none). O(1); never part of a
  // step. Since IDs are never reused, a caller that reads it and then ends
  // the lock (Release found it) has the waiter of the lock it ended.
  WaiterRef WaiterOf(LockId id) const EXCLUDES(mu_);
  Stats GetStats() const EXCLUDES(mu_);

  // The live locks that `query` asks for (InspectQuery). Never part of a
  // step: it changes nothing (not even when it throws std::bad_alloc), and
  // holds the mutex for O(query.path's length + the listed locks' entries
  // + the entries it takes from merges of ID-ordered lists), each with a
  // factor O(log) of the lists merged. A merge takes, with a path, the
  // entries on the nodes down it of the listed locks and of one more; for
  // each enqueued lock listed, the entries of its first max_blockers + 1
  // blockers on the nodes of its own entries. Never the number of live
  // locks. TEST_Work() counts its work too.
  Inspection Inspect(const InspectQuery& query) const EXCLUDES(mu_);
  // The lock enqueued the longest and the lock acquired the longest
  // (OldestLocks). O(1): never part of a step.
  OldestLocks Oldest() const EXCLUDES(mu_);

  // Heap bytes of this space's lock state now: what it has charged to its
  // budget. 0 when no lock is live.
  std::uint64_t MemoryBytes() const EXCLUDES(mu_);

  // For tests only. Elementary steps done since the space was made (see the
  // file comment).
  std::uint64_t TEST_Work() const EXCLUDES(mu_);

  // For tests only. Slots the space keeps allocated for its lock table. With
  // no live locks it is back to a small constant: an idle space gives its
  // memory back while keeping its ID sequence.
  std::size_t TEST_ReservedSlots() const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  const std::unique_ptr<LockTable> table_ PT_GUARDED_BY(mu_);
  std::uint64_t steps_ GUARDED_BY(mu_) = 0;
};

static_assert(InspectInterface<LockSpace>);

}  // namespace locktopus

#endif  // LOCKTOPUS_ENGINE_ENGINE_H_
