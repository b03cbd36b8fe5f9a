// The lock engine's public interface: one LockSpace per namespace. With
// engine/id_marks.h (what freed namespaces leave behind), the only engine
// headers the server, the tools and the tests include.
//
// Semantics: SEMANTICS.md. A live lock is acquired at the first moment at
// which no live lock with a smaller ID conflicts with it.
//
// Complexity (DESIGN.md), amortised over a lock's life:
//   - Request: O(total path length of its resources), independent of how many
//     locks are live elsewhere;
//   - Release: O(its total path length) plus O(1) per lock it acquires;
//   - N compatible holders of one path do not make each other's steps O(N).
// TEST_Work() counts the elementary steps (nodes touched, entries visited) so
// that tests can assert these bounds without measuring time.
//
// Thread safety: every method of LockSpace may be called from any thread. A
// LockSpace serialises its steps with one mutex; steps in different spaces
// never contend. Nothing calls out while holding the mutex: a step returns
// the waiters of the locks it acquired, and the caller tells them.

#ifndef LOCKTOPUS_ENGINE_ENGINE_H_
#define LOCKTOPUS_ENGINE_ENGINE_H_

#include <cstdint>
#include <memory>
#include <span>

#include "engine/thread_annotations.h"
#include "engine/types.h"

namespace locktopus {

class LockTable;

// The locks of one namespace.
class LockSpace {
 public:
  // The first lock gets ID last_id + 1.
  explicit LockSpace(LockId last_id = 0);
  ~LockSpace();
  LockSpace(const LockSpace&) = delete;
  LockSpace& operator=(const LockSpace&) = delete;

  // Starts a lock on `resources` (an empty list conflicts with nothing) with
  // the next ID of this space. Returns the ID and whether it was acquired now.
  // If it was not, `waiter` is kept with the lock until the step that
  // acquires it returns it (ReleaseResult::acquired).
  RequestResult Request(std::span<const Resource> resources,
                        const WaiterRef& waiter = {}) EXCLUDES(mu_);

  // Ends lock `id`: releases it if acquired, cancels it if enqueued. Returns
  // found=false, changing nothing, if `id` is not live.
  ReleaseResult Release(LockId id) EXCLUDES(mu_);

  LockState State(LockId id) const EXCLUDES(mu_);
  Stats GetStats() const EXCLUDES(mu_);

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

static_assert(StepInterface<LockSpace>);

}  // namespace locktopus

#endif  // LOCKTOPUS_ENGINE_ENGINE_H_
