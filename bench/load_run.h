// One run of the load generator: opens the idle connections (measuring the
// server's memory around them), opens the load clients, lets them cycle
// through a warm-up and the measured window (and, if asked, a second window
// in which the server's system calls are counted), drains them, and gathers
// the results.
//
// Thread safety: RunLoad blocks the calling thread, which only keeps time;
// the clients run on a pool of `threads` threads sharing one io_context.

#ifndef LOCKTOPUS_BENCH_LOAD_RUN_H_
#define LOCKTOPUS_BENCH_LOAD_RUN_H_

#include <optional>
#include <string>
#include <string_view>

#include "bench/load_client.h"
#include "bench/report.h"
#include "util/result.h"

namespace locktopus::bench {

struct LoadOptions {
  std::string url = "ws://127.0.0.1:9009/v1?namespace=bench";
  int clients = 64;
  Workload workload;
  double duration_s = 10;
  double warmup_s = 2;
  int idle = 0;
  int threads = 1;
  std::optional<int> server_pid;
  // A replicating standby of the server: its CPU per cycle too.
  std::optional<int> standby_pid;
  // Pings timed on a connection of their own before the load (ping.h).
  int pings = 0;
  // With server_pid: seconds after the measured window in which the
  // server's system calls are counted (bench/syscall_count.h); 0: none.
  double syscall_window_s = 0;
};

// Parses a ws:// or redis:// URL and resolves its host; an error in words on
// failure.
Result<Target> ResolveTarget(std::string_view url);

Results RunLoad(const LoadOptions& options, const Target& target);

}  // namespace locktopus::bench

#endif  // LOCKTOPUS_BENCH_LOAD_RUN_H_
