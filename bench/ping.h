// A loopback round trip, for scale: one WebSocket connection to the
// server that sends pings one after another, each once the last one's pong
// came back, and times each ping → pong. The server answers a ping from its
// read loop (Beast does, before any lock logic), so a round trip is what
// one message and its answer cost between two processes over loopback,
// each woken from epoll: what a replicated change's trip to a standby and
// its acknowledgement cost on top of a lock's cycle (scripts/bench.sh).
//
// Thread safety: blocks the calling thread, which runs its own io_context.

#ifndef LOCKTOPUS_BENCH_PING_H_
#define LOCKTOPUS_BENCH_PING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "bench/load_client.h"

namespace locktopus::bench {

// The round trips, in nanoseconds, of `count` pings to `target` (a
// WebSocket one), after a few unmeasured ones; with what went wrong in
// `error` if not all of them came back.
std::vector<std::int64_t> PingRoundTrips(const Target& target, int count,
                                         std::string& error);

}  // namespace locktopus::bench

#endif  // LOCKTOPUS_BENCH_PING_H_
