// The reference model: docs/semantics.md written as plainly as possible. A
// list of live locks ordered by ID; after every step, one scan acquires each
// enqueued lock that no earlier live lock conflicts with. Quadratic on
// purpose: it is the oracle the engine is checked against and never serves
// clients.
//
// It shares nothing with the engine but the value types of engine/types.h.
//
// Thread safety: none. Copyable, so property tests can keep it as their
// model state.

#ifndef LOCKTOPUS_MODEL_MODEL_SPACE_H_
#define LOCKTOPUS_MODEL_MODEL_SPACE_H_

#include <algorithm>
#include <span>
#include <vector>

#include "engine/types.h"

namespace locktopus::model {

// True when the paths overlap: one is a prefix of the other.
bool Overlap(const Path& a, const Path& b);

// True when the resources conflict: paths overlap and one of them writes.
bool Conflicts(const Resource& a, const Resource& b);

// True when some resource of one list conflicts with some of the other.
bool Conflicts(std::span<const Resource> a, std::span<const Resource> b);

class ModelSpace {
 public:
  struct Lock {
    LockId id = 0;
    std::vector<Resource> resources;
    bool acquired = false;
    std::uint64_t acquired_in = 0;  // the step that acquired it
    WaiterRef waiter;               // whom the request named
  };

  RequestResult Request(std::span<const Resource> resources,
                        const WaiterRef& waiter = {});
  ReleaseResult Release(LockId id);
  // Raises the last issued ID to `last_id` if it is higher; not a step.
  void SkipTo(LockId last_id) { last_id_ = std::max(last_id_, last_id); }
  LockState State(LockId id) const;
  // The waiter a live lock's request named; empty if `id` is not live.
  WaiterRef WaiterOf(LockId id) const;
  Stats GetStats() const;
  // Filters Live() by the definition: no index, no early exit.
  Inspection Inspect(const InspectQuery& query) const;
  // By the definition: the first enqueued lock, and the acquired lock of
  // the earliest step (the smallest ID among equals).
  OldestLocks Oldest() const;

  // The live locks, ascending by ID.
  const std::vector<Lock>& Live() const { return live_; }

 private:
  // Acquires every enqueued lock with no earlier live conflicting lock, and
  // returns them ascending by ID, each with its waiter.
  std::vector<Acquisition> Scan();

  std::vector<Lock> live_;
  LockId last_id_ = 0;
  std::uint64_t steps_ = 0;
};

static_assert(InspectInterface<ModelSpace>);

}  // namespace locktopus::model

#endif  // LOCKTOPUS_MODEL_MODEL_SPACE_H_
