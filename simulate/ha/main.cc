// locktopus-ha-simulate: rounds of the HA role simulation
// (ha_simulation.h) until time is up or a round fails. On a failure prints
// the report and the seed, and exits 1.

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <random>

#include "simulate/ha/ha_simulation.h"

int main(int argc, char** argv) {
  using locktopus::simulate::HaConfig;
  using locktopus::simulate::HaOutcome;
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
  if (config.servers < 1 || config.seconds <= config.quiet_seconds ||
      config.ttl_ms < 1000 || config.id_block < 2) {
    std::cerr << "locktopus-ha-simulate: servers >= 1, round-seconds > "
              << config.quiet_seconds << ", ttl-ms >= 1000, id-block >= 2\n";
    return 2;
  }
  if (replay != 0) {
    config.verbose = true;
    const HaOutcome outcome = RunHaRound(config, replay);
    std::cout << (outcome.ok ? "ha-simulate: seed passes\n"
                             : "ha-simulate: seed fails:\n" + outcome.report);
    return outcome.ok ? 0 : 1;
  }

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::uint64_t rounds = 0, events = 0, grants = 0, faults = 0, takeovers = 0;
  for (;; ++seed) {
    const HaOutcome outcome = RunHaRound(config, seed);
    ++rounds;
    events += outcome.events;
    grants += outcome.grants;
    faults += outcome.faults;
    takeovers += outcome.takeovers;
    if (!outcome.ok) {
      std::cout << "ha-simulate: round " << rounds << " FAILED (seed " << seed
                << ")\n"
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
  std::cout << "ha-simulate: " << rounds << " rounds, " << events << " events, "
            << faults << " faults, " << takeovers << " takeovers, " << grants
            << " grants, 0 failures\n";
  return 0;
}
