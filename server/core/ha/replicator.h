// The active's side of replication (docs/ha.md, "Replication"): which
// standbys follow it, what each has acknowledged, how far the change log is
// committed, and when a standby joins or leaves the group's in-sync set.
//
// The pattern is PacificA's (primary/backup under an external
// configuration master), with the group's record (record.h) as the
// configuration and etcd as its master:
//
//   R   the standbys whose acknowledgement every commit waits for;
//   C   the record's in-sync set: the active and some standbys.
//
//   - C is always within R and the active: a standby enters R first, and C
//     by a record write after; it leaves C by a record write first, and R
//     only once that write succeeded (Node::SetInSync; a write refused
//     because we lead no more fences us).
//   - A position is committed once every standby of R has acknowledged it;
//     with R empty, as soon as it is appended (kEverything). A change's
//     client-visible effect waits for its commit, so every effect a client
//     saw is held by every member of C.
//   - A standby of R that leaves a position unacknowledged for longer than
//     the ack bound is dropped: its stream closes and it leaves C (and then
//     R), so the active goes on alone rather than stall.
//   - A standby that opens a stream gets a snapshot and the changes after
//     it. It enters R once it has acknowledged everything that was logged
//     when it opened; its record write waits until it has acknowledged
//     everything committed when it entered R (commits wait for it from then
//     on, so that point cannot move on without it).
//
// A new active starts with R empty and C = {itself}: its standbys' replicas
// followed the old epoch, so each one joins again by snapshot.
//
// Thread safety: not thread-safe; every call on the role's executor.

#ifndef LOCKTOPUS_SERVER_CORE_HA_REPLICATOR_H_
#define LOCKTOPUS_SERVER_CORE_HA_REPLICATOR_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "server/core/ha/gate.h"
#include "server/core/ha/record.h"
#include "server/core/ha/replication.h"

namespace locktopus::server::ha {

// Every position, committed: what a replicator with no standby to wait for
// says.
inline constexpr Position kEverything = std::numeric_limits<Position>::max();

// One stream of a standby, for as long as it is open.
using FollowerId = std::uint64_t;

class Replicator {
 public:
  class Io {
   public:
    virtual ~Io() = default;
    virtual Time Now() = 0;
    virtual void After(Clock::duration delay, std::function<void()> fn) = 0;
    // The log's last position now (thread-safe in the log).
    virtual Position LogEnd() = 0;
    // The record's in-sync set becomes the active and `standbys`
    // (Node::SetInSync); `written` follows the write.
    virtual void SetInSync(
        std::vector<Member> standbys,
        std::function<void(const std::vector<Member>&)> written) = 0;
    // Every change up to `position` (kEverything: every change, now and
    // until told otherwise) may show its effect to clients. Never goes back.
    virtual void Committed(Position position) = 0;
    // Close `follower`'s stream, saying `why`; Closed follows.
    virtual void Drop(FollowerId follower, const std::string& why) = 0;
  };

  enum class State {
    kCatchingUp,  // not in R: commits do not wait for it
    kJoining,     // in R, not yet in C
    kInSync,      // in R and in C
    kLeaving,     // in R, leaving C: commits wait until it has left
  };

  Replicator(Clock::duration ack_bound, Io& io);
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  // The log has grown to `position` and everything up to it has been sent
  // to every open stream. Called once per turn of the event loop at most.
  void Appended(Position position);
  // `follower`'s stream opened with a snapshot at `from`: it gets every
  // change after it.
  void Opened(FollowerId follower, const Member& member, Position from);
  // `follower` has applied every change up to `position`.
  void Acked(FollowerId follower, Position position);
  // `follower`'s stream ended (closed, failed, or dropped).
  void Closed(FollowerId follower);

  // What has been told to Io::Committed last.
  Position committed() const { return committed_; }
  // The standbys the record says are in sync (C without the active).
  const std::vector<Member>& in_sync() const { return written_; }
  std::size_t followers() const { return followers_.size(); }
  // A follower's state, for tests and /metrics.
  std::optional<State> StateOf(FollowerId follower) const;

 private:
  struct Follower {
    Member member;
    State state = State::kCatchingUp;
    Position acked = 0;
    Position target = 0;   // kCatchingUp: enters R once acked reaches it
    Position join_at = 0;  // kJoining: written into C once acked reaches it
    bool closed = false;   // kLeaving after its stream ended
  };

  bool InR(const Follower& f) const { return f.state != State::kCatchingUp; }
  // Recomputes the commit point and tells it if it moved.
  void Commit();
  // Asks for the record's in-sync set to match R's members that may be in
  // C, unless that is what it says, or a write is in flight.
  void Reconfigure();
  void Written(const std::vector<Member>& standbys);
  void Leave(FollowerId id, const std::string& why);
  // Drops every standby of R that has left a position unacknowledged for
  // longer than the bound; schedules the next look.
  void CheckAcks();

  const Clock::duration ack_bound_;
  Io& io_;
  std::map<FollowerId, Follower> followers_;
  Position appended_ = 0;
  Position committed_ = kEverything;
  // When each position not yet committed was appended, oldest first.
  std::deque<std::pair<Position, Time>> pending_;
  bool check_scheduled_ = false;
  std::vector<Member> written_;  // the standbys of C, as last written
  bool writing_ = false;
};

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_REPLICATOR_H_
