// locktopus-ha-simulate: rounds of the HA role simulation
// (ha_simulation.h) until time is up or a round fails. On a failure prints
// the report and the seed, and exits 1.

#include <CLI/CLI.hpp>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <string>

#include "simulate/ha/ha_simulation.h"

namespace {

using locktopus::simulate::HaOutcome;

// The counts of a round, or of a run's rounds together.
struct Totals {
  std::uint64_t rounds = 0, replicated = 0, events = 0, grants = 0, faults = 0,
                takeovers = 0, in_sync = 0, degraded = 0, clean = 0,
                commits = 0, acks = 0, dropped = 0, lost_messages = 0,
                snapshots = 0, catch_ups = 0, locks_held = 0, locks_lost = 0,
                stale_timers = 0;

  void Add(const HaOutcome& o) {
    ++rounds;
    replicated += o.replicated ? 1 : 0;
    events += o.events;
    grants += o.grants;
    faults += o.faults;
    takeovers += o.takeovers;
    in_sync += o.in_sync;
    degraded += o.degraded;
    clean += o.clean;
    commits += o.commits;
    acks += o.acks;
    dropped += o.dropped;
    lost_messages += o.lost_messages;
    snapshots += o.snapshots;
    catch_ups += o.catch_ups;
    locks_held += o.locks_held;
    locks_lost += o.locks_lost;
    stale_timers += o.stale_replicator_timers;
  }

  void Print(std::ostream& os) const {
    os << rounds << " rounds (" << replicated << " replicated), " << events
       << " events, " << faults << " faults, " << takeovers << " takeovers ("
       << in_sync << " in sync, " << degraded << " degraded, " << clean
       << " clean), " << grants << " grants; replication: " << commits
       << " commits, " << acks << " acks, " << dropped << " standbys dropped, "
       << lost_messages << " messages lost, " << snapshots << " snapshots, "
       << catch_ups << " catch-ups, " << stale_timers
       << " timers of stopped replicators; clients: " << locks_held
       << " locks held, " << locks_lost << " lost";
  }
};

}  // namespace

int main(int argc, char** argv) {
  using locktopus::simulate::HaConfig;
  using locktopus::simulate::Replication;
  HaConfig config;
  double seconds = 30;
  std::uint64_t seed = std::random_device{}();
  std::uint64_t replay = 0;

  CLI::App app{
      "HA role simulation: servers of one group against an in-memory etcd",
      "locktopus-ha-simulate"};
  app.add_option("--seconds", seconds,
                 "Run rounds for this long (wall clock); 0 runs until a bug")
      ->capture_default_str();
  app.add_option("--seed", seed, "First round's seed (default: random)");
  app.add_option("--replay", replay,
                 "Run the round of this seed, printing every event, then exit");
  app.add_option("--servers", config.servers, "Servers in the group")
      ->capture_default_str();
  app.add_option("--clients", config.clients,
                 "Clients taking locks on a few overlapping resources")
      ->capture_default_str();
  app.add_option("--replication", config.replication,
                 "Which rounds replicate to in-sync standbys: mixed (three "
                 "in four), always, never")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, Replication>{{"mixed", Replication::kMixed},
                                             {"always", Replication::kAlways},
                                             {"never", Replication::kNever}}))
      ->default_str("mixed");
  app.add_option("--ack-timeout-ms", config.ack_timeout_ms,
                 "The active's bound on a standby's acknowledgement")
      ->capture_default_str();
  app.add_option("--round-seconds", config.seconds,
                 "Simulated seconds per round")
      ->capture_default_str();
  app.add_option("--ttl-ms", config.ttl_ms, "Lease TTL")->capture_default_str();
  app.add_option("--max-abandon-ms", config.max_abandon_ms,
                 "Largest abandon timeout")
      ->capture_default_str();
  app.add_option("--id-block", config.id_block, "IDs per ceiling raise")
      ->capture_default_str();
  app.add_option("--drift", config.drift, "Clock rate drift bound")
      ->capture_default_str();
  app.add_flag("--suspend-stops-clock", config.suspend_stops_clock,
               "Servers' clocks stand still while their host is suspended "
               "(as CLOCK_MONOTONIC does): the simulation must then fail");
  CLI11_PARSE(app, argc, argv);
  if (config.servers < 1 || config.clients < 0 ||
      config.seconds <= config.quiet_seconds || config.ttl_ms < 1000 ||
      config.id_block < 2 || config.ack_timeout_ms < 1 ||
      config.ack_timeout_ms * 2 > config.ttl_ms) {
    std::cerr << "locktopus-ha-simulate: servers >= 1, clients >= 0, "
                 "round-seconds > "
              << config.quiet_seconds
              << ", ttl-ms >= 1000, id-block >= 2, 0 < ack-timeout-ms <= "
                 "ttl-ms / 2\n";
    return 2;
  }
  if (replay != 0) {
    config.verbose = true;
    const HaOutcome outcome = RunHaRound(config, replay);
    Totals totals;
    totals.Add(outcome);
    std::cout << "ha-simulate: ";
    totals.Print(std::cout);
    std::cout << (outcome.ok ? "\nha-simulate: seed passes\n"
                             : "\nha-simulate: seed fails:\n" + outcome.report);
    return outcome.ok ? 0 : 1;
  }

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  Totals totals;
  for (;; ++seed) {
    const HaOutcome outcome = RunHaRound(config, seed);
    totals.Add(outcome);
    if (!outcome.ok) {
      std::cout << "ha-simulate: round " << totals.rounds << " FAILED (seed "
                << seed << ") after " << std::fixed << std::setprecision(1)
                << std::chrono::duration<double>(Clock::now() - start).count()
                << " s, "
                << (outcome.replicated ? "replicated" : "not replicated")
                << ":\n"
                << outcome.report
                << "replay with: locktopus-ha-simulate --replay " << seed
                << "\n";
      return 1;
    }
    if (seconds > 0 &&
        Clock::now() - start >= std::chrono::duration<double>(seconds)) {
      break;
    }
  }
  std::cout << "ha-simulate: ";
  totals.Print(std::cout);
  std::cout << ", 0 failures\n";
  return 0;
}
