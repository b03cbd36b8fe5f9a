// What holds a client-visible effect back until the changes behind it are
// committed (replicator.h): with an in-sync standby, a frame to a client —
// a lock's answer, an `acquired` notice, a `resumed` frame — goes out only
// once every standby the active waits for holds every change logged before
// the frame was queued.
//
// A frame is tagged with the log's end when it is queued (Tag): the change
// that caused it was logged before it was made, so waiting for the tag
// never lets an effect out ahead of its cause. Waiting for a later change
// too costs at most the round trip of the batch that carries it.
//
// A server without replication has no gate; an active with no standby to
// wait for commits everything at once (kEverything), and a frame then never
// waits.
//
// Thread safety: every method may be called from any thread. Callbacks run
// on the thread of WhenCommitted (at once) or of Advance, outside the mutex.

#ifndef LOCKTOPUS_SERVER_CORE_HA_COMMIT_GATE_H_
#define LOCKTOPUS_SERVER_CORE_HA_COMMIT_GATE_H_

#include <atomic>
#include <functional>
#include <map>

#include "engine/thread_annotations.h"
#include "server/core/ha/replicator.h"

namespace locktopus::server::ha {

class CommitGate {
 public:
  // `log_end` reads the change log's last position (thread-safe).
  explicit CommitGate(std::function<Position()> log_end)
      : log_end_(std::move(log_end)) {}
  CommitGate(const CommitGate&) = delete;
  CommitGate& operator=(const CommitGate&) = delete;

  // The position a frame queued now waits for.
  Position Tag() const { return log_end_(); }
  bool IsCommitted(Position position) const {
    return position <= committed_.load(std::memory_order_acquire);
  }
  // Runs `fn` once `position` is committed: at once if it is now.
  void WhenCommitted(Position position, std::function<void()> fn) EXCLUDES(mu_);
  // Everything up to `committed` is committed (Replicator::Io::Committed);
  // runs what waited for it.
  void Advance(Position committed) EXCLUDES(mu_);

 private:
  const std::function<Position()> log_end_;
  std::atomic<Position> committed_{kEverything};
  Mutex mu_;
  std::multimap<Position, std::function<void()>> waiting_ GUARDED_BY(mu_);
};

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_COMMIT_GATE_H_
