// The load generator's results and how they are printed: a few lines for
// people, and one JSON object for scripts (scripts/bench.sh).
//
// Thread safety: pure functions over values.

#ifndef LOCKTOPUS_BENCH_REPORT_H_
#define LOCKTOPUS_BENCH_REPORT_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "bench/load_client.h"

namespace locktopus::bench {

struct Percentiles {
  std::size_t count = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
};

// Nearest-rank percentiles of latencies in nanoseconds; sorts `ns`.
Percentiles Summarize(std::vector<std::int64_t>& ns);

struct Results {
  // What ran.
  std::string url;
  bool redis = false;  // Redis lock clients (bench/redis_client.h)
  int clients = 0;
  int threads = 0;
  Workload workload;
  double window_s = 0;

  // The measured window.
  std::uint64_t cycles = 0;
  std::uint64_t enqueued = 0;  // locks first answered "enqueued"
  Percentiles acquire;         // lock sent → acquired received
  Percentiles cycle;           // lock sent → ready received

  // Anything but zero fails the run.
  std::uint64_t connect_failures = 0;
  std::uint64_t protocol_errors = 0;
  std::uint64_t unexpected_closes = 0;
  std::uint64_t stuck = 0;  // load clients that never finished their cycle
  std::string first_error;
  std::uint64_t violations = 0;
  std::string first_violation;

  // With --server-pid.
  std::optional<double> server_cpu_us_per_cycle;
  std::optional<double> server_system_us_per_cycle;  // of it, in the kernel
  std::optional<std::uint64_t> server_rss_kb;        // at the window's end
  // Context switches of the server's threads (bench/proc_stats.h).
  std::optional<double> server_voluntary_switches_per_cycle;
  std::optional<double> server_involuntary_switches_per_cycle;
  // With a window for system calls: the server's system calls per cycle
  // there (bench/syscall_count.h), and the cycles it held.
  std::optional<double> server_syscalls_per_cycle;
  std::uint64_t syscall_cycles = 0;

  // With --idle: the server's RSS before and after opening them.
  int idle_requested = 0;
  int idle_open = 0;
  std::optional<std::uint64_t> idle_rss_before_kb;
  std::optional<std::uint64_t> idle_rss_after_kb;

  std::uint64_t errors() const {
    return connect_failures + protocol_errors + unexpected_closes + stuck;
  }
  double cycles_per_s() const { return window_s > 0 ? cycles / window_s : 0; }
  // Bytes of server RSS per idle connection, when it was measured.
  std::optional<double> idle_bytes_per_connection() const;
};

void PrintText(const Results& r, std::ostream& out);

// One line: {"clients":64,...,"cycles_per_s":12345.6,...}
std::string ToJson(const Results& r);

}  // namespace locktopus::bench

#endif  // LOCKTOPUS_BENCH_REPORT_H_
