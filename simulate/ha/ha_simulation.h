// The HA role simulation: several servers of one group, each running the
// real role logic (server/core/ha/node.h) and its grant gate, against an
// in-memory etcd, in simulated time. Deterministic: one seed is one
// history. Faults come at random: processes killed (-9) and restarted,
// paused (SIGSTOP) for up to twice the grace, cut off from etcd, etcd
// without a leader for a while (after which it renews every lease, as etcd
// does), single requests delayed for seconds, lost requests and replies,
// clean shutdowns, the host suspended (its clock counts the suspend, as
// CLOCK_BOOTTIME does, unless HaConfig::suspend_stops_clock), the group's
// record deleted (with its active killed) and
// the shard map changed so that another group's namespaces move in — each
// of the last two followed by an operator's --ha-init with every server
// stopped (server/core/ha/cluster.h); every clock runs at its own rate
// within the stated drift bound.
//
// Clients (a few, on a few overlapping resources, so that they conflict
// often) take locks from whichever server says it is ready, as HAProxy
// sends them: most in resumable sessions, some on plain connections. Each
// server keeps their locks in the real engine (fake_locks.h). A client
// counts its lock held from the `acquired` it reads until it releases it,
// or until its last proof of life from the server (a ping answered, an
// answer) is older than its window less the C++ client's margin, on its
// own clock; a session's client that loses its connection resumes it on
// whichever server is ready.
//
// Replication (most rounds; see HaConfig::replication): every server has a
// ChangeLog, a CommitGate, a Follower and, while serving, a Replicator,
// wired as server/net/replication.cc wires them, with the real stream
// messages over fake WebSockets between the active and each standby that
// lose, duplicate, reorder and delay messages, are cut with or without a
// FIN, and time out when a peer is paused. A frame to a client waits for
// the commit of every change logged before it. A server without
// replication (the other rounds) has neither log nor gate, and every
// takeover is degraded, or clean.
//
// After every event the round checks:
//   - no conflicting locks: no two clients count conflicting locks held at
//     once (an in-sync takeover keeps a client's lock, which it resumes on
//     the new active);
//   - one grantor at a time: the intervals in which a server could grant
//     (from its first possible grant to the end of its window, its stop, or
//     the election of an in-sync successor, which then holds its clients'
//     locks and acknowledges nothing more) never come within the largest
//     abandon timeout of another server's;
//   - every change whose effect a client was sent is held by every live
//     member of the record's in-sync set (its Follower is a whole replica
//     of the epoch that far, or it is the active), and by the replica that
//     an in-sync successor adopted, even if the old active wrote the frame
//     after the takeover;
//   - an in-sync takeover's new active holds, acquired, every lock that a
//     client counts held at that moment;
//   - fencing tokens: a client that counts a lock held has a greater ID
//     than every conflicting lock counted held before, and every ID granted
//     is at or below the ceiling the group's record holds at that moment;
//   - liveness: after the last fault, some server is elected again (serving,
//     or in its grace).
// A failure says which and prints the seed; the round replays from it.
//
// Thread safety: RunHaRound is self-contained; call it from one thread.

#ifndef LOCKTOPUS_SIMULATE_HA_HA_SIMULATION_H_
#define LOCKTOPUS_SIMULATE_HA_HA_SIMULATION_H_

#include <cstdint>
#include <string>

namespace locktopus::simulate {

// Which rounds replicate.
enum class Replication { kMixed, kAlways, kNever };

struct HaConfig {
  int servers = 3;
  int clients = 6;
  // kMixed: three rounds in four, by seed.
  Replication replication = Replication::kMixed;
  int ack_timeout_ms = 400;   // --ha-ack-timeout-ms
  double seconds = 120;       // simulated time per round
  double quiet_seconds = 30;  // at the end, without faults
  int ttl_ms = 2000;
  int max_abandon_ms = 3000;
  std::uint64_t id_block = 64;  // small, so that raises happen
  double drift = 1e-3;          // clock rate within 1 +- drift
  double fault_every_s = 2;     // on average
  // A suspended host's clock stands still, as CLOCK_MONOTONIC does (the
  // servers use CLOCK_BOOTTIME, which does not): for showing that the
  // simulation catches a server that counts its window on such a clock.
  bool suspend_stops_clock = false;
  bool verbose = false;  // print every event
};

struct HaOutcome {
  bool ok = true;
  std::uint64_t events = 0;
  std::uint64_t grants = 0;
  std::uint64_t faults = 0;
  std::uint64_t takeovers = 0;  // lives that could grant
  // Takeovers by kind (Node's), as /metrics counts them.
  std::uint64_t in_sync = 0;
  std::uint64_t degraded = 0;
  std::uint64_t clean = 0;
  bool replicated = false;
  std::uint64_t commits = 0;        // commit points told to the CommitGate
  std::uint64_t acks = 0;           // acknowledgements an active received
  std::uint64_t dropped = 0;        // standbys dropped by the ack bound
  std::uint64_t lost_messages = 0;  // replication messages lost on the way
  std::uint64_t snapshots = 0;      // streams opened with a snapshot
  std::uint64_t catch_ups = 0;      // streams opened with a catch-up
  std::uint64_t locks_held = 0;     // locks clients counted held
  std::uint64_t locks_lost = 0;     // of those, lost before released
  // Timers of a Replicator that fired after Stop destroyed it (the
  // server's timers are not cancelled; the simulation skips them).
  std::uint64_t stale_replicator_timers = 0;
  std::string report;  // what failed, with the last events before it
};

HaOutcome RunHaRound(const HaConfig& config, std::uint64_t seed);

// Whether the round of `seed` replicates under `config`.
bool Replicates(const HaConfig& config, std::uint64_t seed);

}  // namespace locktopus::simulate

#endif  // LOCKTOPUS_SIMULATE_HA_HA_SIMULATION_H_
