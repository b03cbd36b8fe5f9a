// The multithreaded bug finder's core: one round is a fresh namespace of a
// server::LockService, which many threads of logical clients drive with
// random requests, holds, cancellations and releases through the interface
// the server uses (server::Namespace). Each client is the waiter of its
// enqueued locks: it is told by the server's own notification path, on the
// thread of the step that acquired the lock, and reads the space when told
// (so a notice delivered under the space's mutex deadlocks).
//
// A share of the clients (session_percent) hold their locks through
// resumable sessions (server/core/session.h) instead: they speak the
// protocol's frames to a server::ClientSession over a fake transport owned
// by one thread, its strand; what other threads ask of a transport (a
// notice, a force release, a close) is queued to that thread, which passes
// it to the session as a WebSocket session posts to its strand. They lose
// their connection (the session detaches for its window, timed in ticks of
// the thread that keeps the timer), resume from a new transport on another
// thread, or take over a connection still open; any thread may
// force-release a session client's lock (server::ForceRelease). Steps made
// inside the server (a session's requests and releases, a force release,
// a window's end) are made alone between two probe steps, so that their
// place in the space's order is known.
//
// A round fails when
//   - two conflicting locks are held at once (a shadow of held resources is
//     checked at every acquisition; a lock an operator or a window ended is
//     forgotten, since its client may still believe it held),
//   - the history, stamped with each step's position in the space's order and
//     replayed in that order into the reference model, acquires different IDs
//     at some step (a step made inside the server is checked by its request's
//     answer and by the steps after it),
//   - a client is told of a lock that is still enqueued,
//   - a frame reaches a session's connection after a newer one has been sent
//     its session frame (two sockets speak for one session), a connection
//     taken over is not closed (4409), or the connection a client reads is,
//   - a resume's answer differs from what its client was told and from the
//     engine (its lock's state and ID; `none` only for a lock an operator
//     ended; `acquired` for a lock an operator ended before the resume
//     only if the new connection is then told, 4000), or a session said gone
//     still has its lock live,
//   - a session client is told twice that one lock is acquired, or is
//     never told of an acquisition once every notice is delivered,
//   - no step completes for `stall_seconds` (every client stuck waiting:
//     with cancel_percent > 0 clients give up instead, and a lost wake-up
//     shows in the replay as a missing acquisition), or a thread is blocked
//     for good (the process then prints the seed and exits 1: a deadlocked
//     thread cannot be joined),
//   - locks are left live after every client has released, a session is
//     left once every window has passed, or the idle namespace is not freed
//     once its last hold goes.
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
  int session_percent = 25;     // share of clients on resumable sessions
};

struct Outcome {
  bool ok = true;
  std::uint64_t steps = 0;
  // What the session clients went through.
  std::uint64_t resumes = 0;         // resumed within the window
  std::uint64_t takeovers = 0;       // of those, from a still open connection
  std::uint64_t expiries = 0;        // windows that passed with no resume
  std::uint64_t force_releases = 0;  // of session clients' locks
  std::string report;  // what failed, with the shortest history that shows it
};

Outcome RunRound(const Config& config, std::uint64_t seed);

}  // namespace locktopus::simulate

#endif  // LOCKTOPUS_SIMULATE_SIMULATION_H_
