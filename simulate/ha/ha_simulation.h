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
// within the stated drift bound. Each server's clients ask for locks all
// the time.
//
// After every event the round checks:
//   - one grantor at a time: the intervals in which a server could grant
//     (from its first possible grant to the end of its window, or its stop)
//     never come within the largest abandon timeout of another server's;
//   - fencing tokens: every ID granted is above every ID granted before,
//     and at or below the ceiling the group's record holds at that moment;
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

struct HaConfig {
  int servers = 3;
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
  std::uint64_t takeovers = 0;
  std::string report;  // what failed, with the last events before it
};

HaOutcome RunHaRound(const HaConfig& config, std::uint64_t seed);

}  // namespace locktopus::simulate

#endif  // LOCKTOPUS_SIMULATE_HA_HA_SIMULATION_H_
