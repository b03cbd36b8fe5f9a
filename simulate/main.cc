// locktopus-simulate: runs rounds of the multithreaded bug finder
// (simulation.h) until time is up or a round fails. Silent while healthy
// but for a heartbeat; on a failure prints the report, the round's seed and
// whether the seed reproduces it on one thread, and exits 1.

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <random>
#include <thread>

#include "simulate/simulation.h"

namespace {

using locktopus::simulate::Config;
using locktopus::simulate::Outcome;
using locktopus::simulate::RunRound;

int Replay(Config config, std::uint64_t seed) {
  config.threads = 1;
  const Outcome outcome = RunRound(config, seed);
  if (outcome.ok) {
    std::cout << "simulate: seed " << seed << " passes on one thread ("
              << outcome.steps << " steps)\n";
    return 0;
  }
  std::cout << "simulate: seed " << seed << " fails on one thread:\n"
            << outcome.report;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  config.threads = 2 * std::max(1u, std::thread::hardware_concurrency());
  double seconds = 60;
  double heartbeat = 60;
  std::uint64_t seed = std::random_device{}();
  std::uint64_t replay = 0;

  CLI::App app{"Multithreaded bug finder: engine against model",
               "locktopus-simulate"};
  app.add_option("--seconds", seconds, "Run this long; 0 runs until a bug")
      ->capture_default_str();
  app.add_option("--seed", seed, "First round's seed (default: random)");
  app.add_option("--replay", replay,
                 "Run the round of this seed on one thread, then exit");
  app.add_option("--threads", config.threads, "Threads per round")
      ->capture_default_str();
  app.add_option("--clients", config.clients, "Logical clients per round")
      ->capture_default_str();
  app.add_option("--steps", config.steps, "Engine steps per round")
      ->capture_default_str();
  app.add_option("--keys", config.keys, "Path segment alphabet size")
      ->capture_default_str();
  app.add_option("--depth", config.depth, "Deepest path")
      ->capture_default_str();
  app.add_option("--max-resources", config.max_resources,
                 "Most resources per lock")
      ->capture_default_str();
  app.add_option("--max-hold", config.max_hold,
                 "Most ticks a client holds a lock")
      ->capture_default_str();
  app.add_option("--cancel-percent", config.cancel_percent,
                 "Chance per tick that a waiting client cancels")
      ->capture_default_str();
  app.add_option("--session-percent", config.session_percent,
                 "Share of clients that hold their locks through resumable "
                 "sessions (detached, resumed, taken over, force-released)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  app.add_option("--stall-seconds", config.stall_seconds,
                 "A round with no step for this long has lost a wake-up")
      ->capture_default_str();
  app.add_option("--heartbeat", heartbeat, "Seconds between heartbeat lines")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (config.threads < 1 || config.clients < 1 || config.keys < 1 ||
      config.depth < 0 || config.max_resources < 1 || config.max_hold < 0) {
    std::cerr << "locktopus-simulate: sizes must be positive\n";
    return 2;
  }
  if (replay != 0) return Replay(config, replay);

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto next_beat = start + std::chrono::duration<double>(heartbeat);
  std::uint64_t rounds = 0, steps = 0;
  Outcome sessions;  // the session clients' counts, summed
  std::cerr << "simulate: first seed " << seed << ", " << config.threads
            << " threads, " << config.clients << " clients\n";
  for (;; ++seed) {
    // Every fourth round runs on one thread, where a seed replays exactly.
    Config round = config;
    if (rounds % 4 == 3) round.threads = 1;
    const Outcome outcome = RunRound(round, seed);
    ++rounds;
    steps += outcome.steps;
    sessions.resumes += outcome.resumes;
    sessions.takeovers += outcome.takeovers;
    sessions.expiries += outcome.expiries;
    sessions.force_releases += outcome.force_releases;
    if (!outcome.ok) {
      std::cout << "simulate: round " << rounds << " FAILED (seed " << seed
                << ", " << round.threads << " threads)\n"
                << outcome.report << "replay with: locktopus-simulate --replay "
                << seed << "\n";
      if (round.threads > 1) Replay(config, seed);
      return 1;
    }
    const auto now = Clock::now();
    if (now >= next_beat) {
      std::cerr << "simulate: " << rounds << " rounds, " << steps
                << " steps, no bug\n";
      next_beat = now + std::chrono::duration<double>(heartbeat);
    }
    if (seconds > 0 && now - start >= std::chrono::duration<double>(seconds)) {
      break;
    }
  }
  std::cout << "simulate: " << rounds << " rounds, " << steps
            << " steps, 0 failures; sessions: " << sessions.resumes
            << " resumes (" << sessions.takeovers << " takeovers), "
            << sessions.expiries << " windows passed, "
            << sessions.force_releases << " force releases\n";
  return 0;
}
