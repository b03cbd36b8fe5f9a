// The lock engine's public interface: one LockSpace per namespace, and a
// Registry that creates the spaces on first use. This is the only engine
// header the server, the tools and the tests include.
//
// Semantics: SEMANTICS.md. A live lock is acquired at the first moment at
// which no live lock with a smaller ID conflicts with it.
//
// Complexity (DESIGN.md), amortised over a lock's life:
//   - Request: O(total path length of its resources), independent of how many
//     locks are live elsewhere;
//   - Release: O(its total path length) plus O(1) per lock it acquires;
//   - N compatible holders of one path do not make each other's steps O(N).
// Work() counts the elementary steps (nodes touched, entries visited) so that
// tests can assert these bounds without measuring time.
//
// Thread safety: every method of LockSpace and Registry may be called from
// any thread. A LockSpace serialises its steps with one mutex; steps in
// different spaces never contend. Nothing calls out while holding a mutex:
// acquisitions are returned to the caller, who notifies whoever waits.

#ifndef LOCKTOPUS_ENGINE_ENGINE_H_
#define LOCKTOPUS_ENGINE_ENGINE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/thread_annotations.h"
#include "engine/types.h"

namespace locktopus {

class LockTable;

// A step's result with its position in its space's total order of steps
// (1, 2, 3, ...): checkers replay concurrent steps in the order the space
// applied them.
template <class Result>
struct Stamped {
  std::uint64_t step = 0;
  Result result;
};

// The locks of one namespace.
class LockSpace {
 public:
  LockSpace();
  ~LockSpace();
  LockSpace(const LockSpace&) = delete;
  LockSpace& operator=(const LockSpace&) = delete;

  // Starts a lock on `resources` (an empty list conflicts with nothing) with
  // the next ID of this space. Returns the ID and whether it was acquired now.
  RequestResult Request(std::span<const Resource> resources) EXCLUDES(mu_);

  // Ends lock `id`: releases it if acquired, cancels it if enqueued. Returns
  // found=false, changing nothing, if `id` is not live.
  ReleaseResult Release(LockId id) EXCLUDES(mu_);

  // Request and Release, stamped with the step's position in this space's
  // order. Every Request and Release is a step, found or not.
  Stamped<RequestResult> RequestStamped(std::span<const Resource> resources)
      EXCLUDES(mu_);
  Stamped<ReleaseResult> ReleaseStamped(LockId id) EXCLUDES(mu_);

  LockState State(LockId id) const EXCLUDES(mu_);
  Stats GetStats() const EXCLUDES(mu_);

  // Elementary steps done since the space was made (see the file comment).
  std::uint64_t Work() const EXCLUDES(mu_);

  // Slots the space keeps allocated for its lock table. With no live locks it
  // is back to a small constant: an idle space gives its memory back while
  // keeping its ID sequence.
  std::size_t ReservedSlots() const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  const std::unique_ptr<LockTable> table_ PT_GUARDED_BY(mu_);
  std::uint64_t steps_ GUARDED_BY(mu_) = 0;
};

// The namespaces of one server. A space, once opened, lives as long as the
// registry, so IDs are never reused within a run.
class Registry {
 public:
  // The space named `name`, created on first use.
  LockSpace& Open(std::string_view name) EXCLUDES(mu_);

  // The space named `name`, or nullptr if nobody has opened it.
  LockSpace* Find(std::string_view name) const EXCLUDES(mu_);

  // The names of every opened space, sorted.
  std::vector<std::string> Names() const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::map<std::string, std::unique_ptr<LockSpace>, std::less<>> spaces_
      GUARDED_BY(mu_);
};

}  // namespace locktopus

#endif  // LOCKTOPUS_ENGINE_ENGINE_H_
