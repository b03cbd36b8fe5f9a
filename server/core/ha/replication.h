// Replication of lock state from an active to its standbys, free of
// sockets: the changes (Change), the active's log of them (ChangeLog) and
// the standby's copy that applies them (Replica). docs/internals.md,
// Replication, has the picture; the transport and the acknowledgements
// live elsewhere.
//
// Why changes suffice: a namespace's lock state is a pure function of its
// live locks (ID and resources) and its last issued ID (docs/semantics.md:
// a lock is acquired at the first moment no live lock with a smaller ID
// conflicts with it). So a replica that requests every lock with the ID
// the active issued and ends every lock the active ended holds exactly the
// active's state; what an end was (release, cancel, abandonment's end,
// force release, session expiry) makes no difference to the engine. The
// replica also keeps whom each lock belongs to (Owner) and the open
// sessions, which a new active needs at a takeover and the engine does
// not know.
//
// Order: every change has a position in the log, 1, 2, 3, ... across the
// whole server. A namespace's changes are appended in the engine's step
// order (lock_service.h: a namespace with a log appends under a mutex held
// across the step), before the step's caller can drop its hold, so a
// namespace freed and opened again never interleaves its old and new
// changes. A session's opening precedes its locks; its end follows them.
//
// A session's secret travels once, with its opening; a lock names its
// session by ID. Neither is ever logged (operator<< leaves the secret out).
//
// Thread safety: ChangeLog's methods may be called from any thread (one
// mutex). ReplicatedState and Replica are not thread-safe: one follower's
// strand owns a Replica.

#ifndef LOCKTOPUS_SERVER_CORE_HA_REPLICATION_H_
#define LOCKTOPUS_SERVER_CORE_HA_REPLICATION_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "engine/engine.h"
#include "engine/thread_annotations.h"
#include "engine/types.h"
#include "util/result.h"

namespace locktopus::server::ha {

// A change's place in the log: 1, 2, 3, ...; 0 is before the first.
using Position = std::uint64_t;

// Whom a lock belongs to, as a new active needs it at a takeover: a
// session (resumable there with its token) or a plain connection (whose
// lock stands there for its abandon timeout).
struct Owner {
  std::uint64_t session = 0;     // its token's ID; 0: a plain connection
  std::uint64_t timeout_ms = 0;  // the abandon timeout; a session's window
  bool operator==(const Owner&) const = default;
};

// A lock was requested and got `id`, the namespace's next ID (or, for a
// namespace the follower does not have, any ID: it opens there).
struct LockRequested {
  std::string ns;
  LockId id = 0;
  std::vector<Resource> resources;
  Owner owner;
  // Whether the request acquired it at once on the active, for the
  // replica's check. nullopt in a snapshot: a snapshot's locks are rebuilt
  // in ID order, so each request then acquires exactly the locks that are
  // acquired now, and nothing is left to check.
  std::optional<bool> acquired;
  bool operator==(const LockRequested&) const = default;
};

// A live lock ended: released, cancelled, abandoned past its timeout,
// released by an operator, or its session expired.
struct LockEnded {
  std::string ns;
  LockId id = 0;
  bool operator==(const LockEnded&) const = default;
};

// The namespace, which has live locks, issued IDs up to `last_id`
// (LockSpace::SkipTo). Only in snapshots: between two live locks whose IDs
// are apart, and after the last live lock.
struct IdsSkipped {
  std::string ns;
  LockId last_id = 0;
  bool operator==(const IdsSkipped&) const = default;
};

// A session was opened (server/core/session.h), with or without a lock.
struct SessionOpened {
  std::uint64_t id = 0;
  std::string secret;  // never logged
  std::string ns;
  std::uint64_t window_ms = 0;
  bool operator==(const SessionOpened&) const = default;
};

// A session ended: its window passed with no resume (its lock, if any,
// ended before).
struct SessionEnded {
  std::uint64_t id = 0;
  bool operator==(const SessionEnded&) const = default;
};

using Change = std::variant<LockRequested, LockEnded, IdsSkipped, SessionOpened,
                            SessionEnded>;

// The change without a session's secret, for logs and test failures:
// "request n0 3 {write ["a"]} session 0000000000000007 acquired".
std::ostream& operator<<(std::ostream& os, const Change& change);

// The changes that rebuild a state from nothing, and the log position that
// state is at: a follower that loads it goes on from position + 1.
struct Snapshot {
  Position position = 0;
  std::vector<Change> changes;
  bool operator==(const Snapshot&) const = default;
};

// What the changes up to some position say, without an engine: the open
// sessions, and for each namespace with live locks its last issued ID and
// its live locks with their resources and owners. Kept by the log (for
// snapshots) and by the replica (with its engine).
class ReplicatedState {
 public:
  struct Lock {
    std::vector<Resource> resources;
    Owner owner;
  };
  struct Space {
    LockId last_id = 0;
    std::map<LockId, Lock> locks;  // live, never empty
  };
  struct Session {
    std::string secret;
    std::string ns;
    std::uint64_t window_ms = 0;
    bool operator==(const Session&) const = default;
  };

  // Applies `change`, or says why it contradicts the state and changes
  // nothing: a request of an ID that is not its namespace's next, or of a
  // session that is not open (or is another namespace's); the end of a lock
  // that is not live; a session opened twice, or ended unopened. An
  // IdsSkipped of a namespace without live locks changes nothing.
  Status Apply(const Change& change);

  // The changes that rebuild this state from nothing: every session's
  // opening, then each namespace's live locks in ID order (their `acquired`
  // unset), with IdsSkipped where IDs are apart and after the last.
  // Namespaces in name order.
  std::vector<Change> Changes() const;

  const std::unordered_map<std::string, Space>& spaces() const {
    return spaces_;
  }
  const std::map<std::uint64_t, Session>& sessions() const { return sessions_; }

 private:
  std::unordered_map<std::string, Space> spaces_;
  std::map<std::uint64_t, Session> sessions_;
};

// The active's side: every change in position order, from the last trim
// on, and the state they add up to (for snapshots).
class ChangeLog {
 public:
  // Appends `change` and returns its position. A change that contradicts
  // the log's state (a bug of the server) is appended all the same, for
  // the followers to report (Replica::Apply's kDiverged); the state then
  // leaves it out. An allocation failure here terminates the server, on
  // purpose: the step is done in its engine and would be missing from the
  // log, and the in-sync followers hold everything its clients were told
  // (no answer goes out before its change is acknowledged).
  Position Append(Change change) noexcept EXCLUDES(mu_);

  // The changes from position `from` on, at most `max` of them; empty when
  // `from` is past the last. nullopt when they are gone: `from` is at or
  // before a trim, or more than one past the last (a follower of another
  // log): the follower needs a snapshot.
  std::optional<std::vector<Change>> From(Position from,
                                          std::size_t max = SIZE_MAX) const
      EXCLUDES(mu_);

  // Forgets the changes up to `position` (every follower has acknowledged
  // them). The owner trims: a log without followers trims as it goes.
  void Trim(Position position) EXCLUDES(mu_);

  // The state at the last position, as changes (ReplicatedState::Changes).
  ha::Snapshot Snapshot() const EXCLUDES(mu_);

  // Calls `fn` after every append from now on, on the appending thread,
  // outside the log's mutex (the appender may hold its namespace's). Set
  // before the first append.
  void OnAppend(std::function<void()> fn) { on_append_ = std::move(fn); }

  // The last position appended; 0 before the first. Lock-free: every
  // frame to a client reads it (commit_gate.h).
  Position last() const;
  // The first position still kept (last() + 1 when none is).
  Position first() const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::deque<Change> changes_ GUARDED_BY(mu_);
  Position first_ GUARDED_BY(mu_) = 1;  // of changes_.front()
  ReplicatedState state_ GUARDED_BY(mu_);
  std::atomic<Position> last_{0};
  std::function<void()> on_append_;
};

// The standby's side: the active's lock state rebuilt in engine LockSpaces,
// one per namespace with live locks, by applying the log in order.
class Replica {
 public:
  enum class Outcome {
    kApplied,    // the change is part of the replica now
    kDuplicate,  // its position was applied before: nothing changed
    kGap,        // a position before it is missing: nothing changed; catch
                 // up from Applied() + 1 (reconnect)
    kDiverged,   // the replica disagrees with the active (divergence() says
                 // how): not in sync until the next Load; every later
                 // Apply answers kDiverged too
  };

  // A live lock as a takeover needs it.
  struct Lock {
    LockId id = 0;
    std::vector<Resource> resources;
    LockState state = LockState::kNone;
    Owner owner;
    bool operator==(const Lock&) const = default;
  };
  struct Space {
    std::string name;
    LockId last_id = 0;
    std::vector<Lock> locks;  // ascending by ID
    bool operator==(const Space&) const = default;
  };

  // Applies the change at `position`, in position order only (see Outcome).
  // A requested lock must get the same ID and, if the change says, the
  // same acquired flag as on the active.
  Outcome Apply(Position position, const Change& change);

  // Replaces the whole state with `snapshot`'s; an error if its changes
  // contradict each other (then diverged, as Apply's kDiverged).
  Status Load(const ha::Snapshot& snapshot);

  // The last position applied (or loaded); 0 before any.
  Position Applied() const { return applied_; }
  // Why the replica diverged; empty while it has not.
  const std::string& divergence() const { return divergence_; }

  // Every namespace with live locks, in name order: what a takeover
  // rebuilds a LockService from. Meaningful only while not diverged.
  std::vector<Space> Spaces() const;
  // The open sessions, by token ID.
  const std::map<std::uint64_t, ReplicatedState::Session>& sessions() const {
    return state_.sessions();
  }

 private:
  // Applies one change to the state and the engine; an error if they
  // disagree with it.
  Status Step(const Change& change);
  void Reset();

  ReplicatedState state_;
  std::unordered_map<std::string, std::unique_ptr<LockSpace>> engines_;
  Position applied_ = 0;
  std::string divergence_;
};

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_REPLICATION_H_
