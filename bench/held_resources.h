// The load generator's safety check: a shadow of the resources its clients
// hold right now, from the moment an `acquired` answer is received to the
// moment the `release` is sent. A lock that conflicts (docs/semantics.md: paths
// overlap, one is a prefix of the other, and at least one side is a write)
// with a resource another client holds is a violation of mutual exclusion.
//
// The window is on the safe side: a client leaves the shadow before its
// release is on the wire, and a server that honours the lock can only
// grant a conflicting lock after receiving that release. So against a
// correct server there are no false alarms, whatever the timing.
//
// Thread safety: every method may be called from any thread.

#ifndef LOCKTOPUS_BENCH_HELD_RESOURCES_H_
#define LOCKTOPUS_BENCH_HELD_RESOURCES_H_

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "engine/thread_annotations.h"
#include "engine/types.h"

namespace locktopus::bench {

// Resources, paths and lock IDs are the engine's plain value types, the ones
// the wire codec reads and writes. The conflict check is the bench's own,
// written from docs/semantics.md: it must not share a bug with the engine's.

// True when one path is a prefix of the other (equal paths included).
bool Overlap(std::span<const std::string> a, std::span<const std::string> b);

// True when the paths overlap and at least one is a write.
bool Conflict(const Resource& a, const Resource& b);
bool Conflict(Access a, std::span<const std::string> a_path, Access b,
              std::span<const std::string> b_path);

// "write [k1,k1]"
std::string Describe(const Resource& r);

// Who holds a lock: the client's number and the lock's ID from the server.
struct Holder {
  int client = 0;
  LockId lock_id = 0;
};

class HeldResources {
 public:
  // Records that `holder` now holds `resources`, first checking them
  // against everything held by other clients. Returns true if they
  // conflict (a violation, counted; the first one is described).
  bool Acquire(const Holder& holder, std::span<const Resource> resources)
      EXCLUDES(mu_);

  // `holder` no longer holds `resources` (the same list as acquired).
  void Release(const Holder& holder, std::span<const Resource> resources)
      EXCLUDES(mu_);

  std::uint64_t violations() const EXCLUDES(mu_);
  // The first violation in words, or "" if there was none.
  std::string first_violation() const EXCLUDES(mu_);

 private:
  struct Entry {
    Holder holder;
    Access access = Access::kRead;
  };
  // Orders paths lexicographically, segment by segment; accepts spans so
  // that a path's prefixes can be looked up without copying them.
  struct PathLess {
    using is_transparent = void;
    bool operator()(std::span<const std::string> a,
                    std::span<const std::string> b) const;
  };
  using Table = std::map<Path, std::vector<Entry>, PathLess>;

  // An entry on `it`'s path that conflicts with `r`, or nullptr. The
  // lookups only find overlapping paths; this checks the definition anyway.
  static const Entry* Blocker(Table::const_iterator it, const Resource& r);
  // Counts a violation; describes it if it is the first.
  void Record(const Holder& holder, const Resource& r,
              std::span<const std::string> held_path, const Entry& blocker)
      REQUIRES(mu_);

  mutable Mutex mu_;
  Table held_ GUARDED_BY(mu_);  // every path with at least one holder
  std::uint64_t violations_ GUARDED_BY(mu_) = 0;
  std::string first_violation_ GUARDED_BY(mu_);
};

}  // namespace locktopus::bench

#endif  // LOCKTOPUS_BENCH_HELD_RESOURCES_H_
