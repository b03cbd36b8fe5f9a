// The floor: a WebSocket server on the same stack as Locktopus (Beast over
// Asio, one io_context on a thread pool, a strand per connection, one write
// in flight) that grants every lock at once and keeps no lock state. It
// parses and validates each frame with the server's codec (wire/codec.h),
// under the server's default limits, and answers
//   lock    -> {"id":"N","action":"lock","state":"acquired"}     N: a counter
//   release -> {"id":"N","action":"release","state":"ready"}     N: the lock's
// Benchmarks run the same load against it and against Locktopus: the
// difference is what locking costs. It grants conflicting locks together,
// so the load generator's safety check must report violations against it.
// A frame that is not a valid lock or release gets the codec's
// "communication error: <reason>" and a close with code 3000.
//
// The serializing floor (`serialize`) is the floor for contention: locks on
// the same resources wait for each other, one holder at a time, first come
// first served, in a plain queue per resource list under one mutex (no
// engine: no overlap of paths, reads are exclusive too, and locks on
// different lists never wait for each other). A lock that must wait is
// answered
//   lock    -> {"id":"N","action":"lock","state":"enqueued"}
// and its `acquired` comes when the holder before it releases or goes, sent
// from the waiter's own strand, as Locktopus sends its notices. A release
// answers `ready` whether the lock was held or still waiting. With locks of
// one resource each, as in the one-path scenario, it is one queue per path.

#ifndef LOCKTOPUS_BENCH_FLOOR_SERVER_H_
#define LOCKTOPUS_BENCH_FLOOR_SERVER_H_

#include <cstdint>
#include <string>

namespace locktopus::bench {

// Serves on 127.0.0.1:`port` (0: any free port) with `threads` threads;
// serializing locks on the same resources if `serialize`.
// Once listening, prints "listening on 127.0.0.1:PORT" to stderr and, unless
// `port_file` is empty, writes "PORT\n" to that file as the server's
// --port-file does: whole or not at all (`port_file`.tmp, then renamed),
// before any connection is accepted. Returns 0 on SIGINT or SIGTERM, 1 if it
// cannot listen or cannot write the port file.
int RunFloorServer(std::uint16_t port, int threads,
                   const std::string& port_file, bool serialize);

}  // namespace locktopus::bench

#endif  // LOCKTOPUS_BENCH_FLOOR_SERVER_H_
