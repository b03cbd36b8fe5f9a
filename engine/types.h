// The value types of the lock step interface, shared by the engine (engine/)
// and the reference model (model/). Nothing here holds state or logic beyond
// equality and printing; docs/semantics.md defines what the values mean.
//
// Thread safety: plain values; no shared state.

#ifndef LOCKTOPUS_ENGINE_TYPES_H_
#define LOCKTOPUS_ENGINE_TYPES_H_

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace locktopus {

// A lock's ID: the namespace's sequence number of its request, from 1. Never
// reused within a LockSpace; 0 is never a lock.
using LockId = std::uint64_t;

// A path of segments compared byte for byte. The empty path is the whole
// namespace and overlaps every path.
using Path = std::vector<std::string>;

enum class Access : std::uint8_t { kRead, kWrite };

struct Resource {
  Access access = Access::kRead;
  Path path;
  bool operator==(const Resource&) const = default;
};

// Where a lock is in its life. kNone: never requested, or no longer live
// (released, cancelled).
enum class LockState : std::uint8_t { kNone, kEnqueued, kAcquired };

// Whom to tell that an enqueued lock has been acquired. A step's caller
// hands one to Request; the engine (and the model) keep it with the lock,
// opaque, and hand it back with the lock's acquisition. Neither ever calls
// it: the caller of the step does, after the step, outside every mutex
// (server/core/lock_service.h). Held weakly, so a waiter that has gone away is
// simply not told.
class Waiter {
 public:
  virtual ~Waiter() = default;
  // Lock `id`, requested with this waiter, has been acquired. Called on the
  // thread of the step that acquired it; must not block.
  virtual void Notify(LockId id) = 0;
};
using WaiterRef = std::weak_ptr<Waiter>;

// One lock acquired by a step, with the waiter its request named.
struct Acquisition {
  LockId id = 0;
  WaiterRef waiter;
  // The same lock with the same waiter (compared by owner, so an expired
  // waiter still equals itself).
  bool operator==(const Acquisition& other) const {
    return id == other.id && !waiter.owner_before(other.waiter) &&
           !other.waiter.owner_before(waiter);
  }
};

// Every Request and Release is one step of its space, found or not; `step`
// is its position in the space's total order (1, 2, 3, ...), so that
// checkers can replay concurrent steps in the order the space applied them.

// What a request did: the new lock's ID, and whether the lock was acquired in
// the same step. A request never causes another lock to be acquired.
struct RequestResult {
  std::uint64_t step = 0;
  LockId id = 0;
  bool acquired = false;
  bool operator==(const RequestResult&) const = default;
};

// What a release did. `found` is false when the ID was not live, and then
// nothing changed. `acquired` lists, ascending by ID, every lock this step
// acquired.
struct ReleaseResult {
  std::uint64_t step = 0;
  bool found = false;
  std::vector<Acquisition> acquired;
  bool operator==(const ReleaseResult&) const = default;
};

// A snapshot of one lock space. Field names map to the statistics of
// docs/protocol.md: LastGroupID, GroupsPending, GroupsAcquired, LocksPending,
// LocksAcquired, PathCount. `resources_*` count a lock's resources as
// requested, duplicates included. `path_count` is the number of distinct
// non-empty paths that are a prefix of (or equal to) a resource path of a
// live lock.
struct Stats {
  LockId last_id = 0;
  std::uint64_t locks_pending = 0;
  std::uint64_t locks_acquired = 0;
  std::uint64_t resources_pending = 0;
  std::uint64_t resources_acquired = 0;
  std::uint64_t path_count = 0;
  bool operator==(const Stats&) const = default;
};

// What Inspect reports (docs/semantics.md's grant rule, read back): the live
// locks, ascending by ID, and for each enqueued one its direct blockers —
// the live locks with a smaller ID that conflict with it.
struct InspectQuery {
  // Only the locks with a resource whose path overlaps this one (is a
  // prefix of it, or has it as a prefix). The empty path overlaps every
  // path: every live lock.
  Path path;
  // At most so many locks, the smallest IDs first; at most so many
  // blockers per enqueued lock, the smallest IDs first.
  std::size_t limit = 100;
  std::size_t max_blockers = 10;
};

struct LockInfo {
  LockId id = 0;
  LockState state = LockState::kNone;
  std::vector<Resource> resources;  // as requested, in order
  WaiterRef waiter;                 // as its request named, for its life
  std::vector<LockId> waits_for;    // enqueued only; ascending
  bool waits_for_more = false;      // blockers beyond those listed exist
  // Equal waiters compared by owner, as Acquisition's.
  bool operator==(const LockInfo& other) const {
    return id == other.id && state == other.state &&
           resources == other.resources && !waiter.owner_before(other.waiter) &&
           !other.waiter.owner_before(waiter) && waits_for == other.waits_for &&
           waits_for_more == other.waits_for_more;
  }
};

struct Inspection {
  std::uint64_t live = 0;       // live locks in the space, matching or not
  std::vector<LockInfo> locks;  // matching, ascending by ID, at most limit
  bool more = false;            // matching locks beyond those listed exist
  bool operator==(const Inspection&) const = default;
};

// The lock enqueued the longest: the enqueued lock with the smallest ID; and
// the lock acquired the longest: the first acquired of the acquired locks
// (of those one step acquired, the smallest ID). Each with its waiter, for
// the caller to find when it was requested or acquired; nullopt when no
// lock is in that state.
struct OldestLocks {
  std::optional<Acquisition> enqueued;
  std::optional<Acquisition> acquired;
  bool operator==(const OldestLocks&) const = default;
};

std::ostream& operator<<(std::ostream& os, Access access);
std::ostream& operator<<(std::ostream& os, LockState state);
std::ostream& operator<<(std::ostream& os, const Resource& resource);
// A lock's resources: {write ["a","b"], read []}
std::string ToString(std::span<const Resource> resources);
std::ostream& operator<<(std::ostream& os, const RequestResult& result);
std::ostream& operator<<(std::ostream& os, const Acquisition& acquisition);
std::ostream& operator<<(std::ostream& os, const ReleaseResult& result);
std::ostream& operator<<(std::ostream& os, const Stats& stats);
// {path ["a","b"], limit 100, max_blockers 10}
std::ostream& operator<<(std::ostream& os, const InspectQuery& query);
std::ostream& operator<<(std::ostream& os, const LockInfo& info);
std::ostream& operator<<(std::ostream& os, const Inspection& inspection);
std::ostream& operator<<(std::ostream& os, const OldestLocks& oldest);

// The step interface that the engine and the model share, and that every
// checker drives. Each call is one atomic step. `waiter` is told (by the
// caller) when the requested lock, if enqueued, is acquired; an empty one
// means nobody.
template <class S>
concept StepInterface = requires(S& space, const S& cspace,
                                 std::span<const Resource> resources,
                                 const WaiterRef& waiter, LockId id) {
  { space.Request(resources, waiter) } -> std::same_as<RequestResult>;
  { space.Release(id) } -> std::same_as<ReleaseResult>;
  { cspace.State(id) } -> std::same_as<LockState>;
  { cspace.GetStats() } -> std::same_as<Stats>;
};

// The query both also answer, compared by the same checkers; never part of
// a lock's request or release.
template <class S>
concept InspectInterface = StepInterface<S> &&
    requires(const S& cspace, const InspectQuery& query) {
  { cspace.Inspect(query) } -> std::same_as<Inspection>;
  { cspace.Oldest() } -> std::same_as<OldestLocks>;
};

}  // namespace locktopus

#endif  // LOCKTOPUS_ENGINE_TYPES_H_
