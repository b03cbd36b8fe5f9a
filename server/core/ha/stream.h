// The replication stream between an active and one standby (docs/ha.md,
// "Replication"): its messages, and the standby's side of it (Follower).
// No I/O: the server carries the messages over a WebSocket
// (server/net/replication.h).
//
// The standby opens it:
//   GET /replicate_v1?member=NAME&revision=R&epoch=E&from=P
// with the group's peer token as its bearer token: NAME and R are its
// candidacy (record.h's Member), E the epoch it follows, and P the first
// position it lacks of that epoch's log (0: it needs a snapshot).
//
// Then each WebSocket text message is lines: a header, then change frames
// (change_codec.h), one per line.
//   active -> standby
//     {"epoch":E,"snapshot":P,"last":B}  a part of the state at position P,
//                                         its frames without positions; the
//                                         part with "last":true ends it
//     {"epoch":E}                         changes, their positions in order
//   standby -> active
//     {"ack":P}                           every change up to P is applied
// A part holds changes up to about kPartBytes (at least one); a standby
// reads messages of up to kMaxMessageBytes.
//
// Thread safety: the format functions are pure. A Follower may be called
// from any thread; one mutex.

#ifndef LOCKTOPUS_SERVER_CORE_HA_STREAM_H_
#define LOCKTOPUS_SERVER_CORE_HA_STREAM_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/thread_annotations.h"
#include "server/core/ha/record.h"
#include "server/core/ha/replication.h"

namespace locktopus::server::ha {

inline constexpr std::size_t kPartBytes = 1 << 20;
inline constexpr std::size_t kMaxMessageBytes = 64 << 20;

// The snapshot as messages: at least one, the last marked.
std::vector<std::string> FormatSnapshot(std::int64_t epoch,
                                        const Snapshot& snapshot);
// The changes from position `from` on, as messages.
std::vector<std::string> FormatChanges(std::int64_t epoch, Position from,
                                       std::span<const Change> changes);
std::string FormatAck(Position position);
// The position of an ack; nullopt for anything else.
std::optional<Position> ParseAck(std::string_view text);

// The standby's side: applies one active's stream to its replica, says
// what to acknowledge, and stops for good when this server is elected.
class Follower {
 public:
  Follower() = default;
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  // A stream from the active of `epoch` begins. Returns the position to
  // ask it for (the `from` of the request): the next one, if the replica
  // is a whole copy of that epoch so far; else 0, a snapshot. nullopt once
  // frozen: no stream may begin.
  std::optional<Position> Begin(std::int64_t epoch) EXCLUDES(mu_);

  struct Answer {
    std::optional<Position> ack;  // acknowledge this
    std::string error;            // not empty: close the stream, saying so
  };
  // One message of the stream.
  Answer OnMessage(std::string_view text) EXCLUDES(mu_);

  // This server is elected: no change is applied, and none acknowledged,
  // from here on.
  void Freeze() EXCLUDES(mu_);
  // Whether the replica is a whole copy of the active of `epoch` up to
  // where it stopped: it loaded that epoch's snapshot and applied every
  // change after it in order, without divergence.
  bool Whole(std::int64_t epoch) const EXCLUDES(mu_);
  // The replica, to serve from (after Freeze).
  Replica Take() EXCLUDES(mu_);

  // What the stream has applied, for /metrics and the log.
  Position applied() const EXCLUDES(mu_);

 private:
  // Why a message cannot be taken; empty if it can.
  std::string Step(std::string_view text) REQUIRES(mu_);

  mutable Mutex mu_;
  bool frozen_ GUARDED_BY(mu_) = false;
  std::int64_t epoch_ GUARDED_BY(mu_) = 0;  // the stream's
  // The epoch the replica is a whole copy of so far; 0: none.
  std::int64_t whole_ GUARDED_BY(mu_) = 0;
  Replica replica_ GUARDED_BY(mu_);
  // A snapshot arriving in parts.
  std::optional<Snapshot> loading_ GUARDED_BY(mu_);
};

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_STREAM_H_
