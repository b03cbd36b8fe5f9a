// The multithreaded bug finder's core: one round is a fresh LockSpace that
// many threads of logical clients drive with random requests, holds,
// cancellations and releases. A round fails when
//   - two conflicting locks are held at once (a shadow of held resources is
//     checked at every acquisition),
//   - the stamped history, replayed in the space's order into the reference
//     model, acquires different IDs at some step,
//   - no step completes for `stall_seconds` (every client stuck waiting:
//     with cancel_percent > 0 clients give up instead, and a lost wake-up
//     shows in the replay as a missing acquisition), or
//   - locks are left live after every client has released.
// A round is reproducible from its seed on one thread (threads = 1).
//
// Thread safety: RunRound is self-contained; call it from one thread.

#ifndef LOCKTOPUS_SIMULATE_SIMULATION_H_
#define LOCKTOPUS_SIMULATE_SIMULATION_H_

#include <cstdint>
#include <string>

namespace locktopus::simulate {

struct Config {
  int threads = 4;
  int clients = 64;             // logical clients, spread over the threads
  std::uint64_t steps = 20000;  // engine steps per round
  int keys = 3;                 // segment alphabet size
  int depth = 3;                // path depth 0..depth
  int max_resources = 4;        // resources per lock 1..max_resources
  int max_hold = 8;             // ticks a client holds a lock 0..max_hold
  int cancel_percent = 5;       // chance a waiting client cancels per tick
  double stall_seconds = 20;    // no step for this long: a liveness failure
};

struct Outcome {
  bool ok = true;
  std::uint64_t steps = 0;
  std::string report;  // what failed, with the shortest history that shows it
};

Outcome RunRound(const Config& config, std::uint64_t seed);

}  // namespace locktopus::simulate

#endif  // LOCKTOPUS_SIMULATE_SIMULATION_H_
