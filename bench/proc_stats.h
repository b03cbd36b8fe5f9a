// What the load generator reads about the server process from /proc: CPU
// time spent (/proc/PID/stat: utime + stime, and stime alone) and resident
// memory
// (/proc/PID/status, VmRSS). Linux only.
//
// Thread safety: pure functions.

#ifndef LOCKTOPUS_BENCH_PROC_STATS_H_
#define LOCKTOPUS_BENCH_PROC_STATS_H_

#include <cstdint>
#include <optional>

namespace locktopus::bench {

struct ProcSample {
  double cpu_us = 0;         // user + system CPU time so far, microseconds
  double system_us = 0;      // of it, in the kernel (stime)
  std::uint64_t rss_kb = 0;  // resident set size now
};

// nullopt if the process does not exist or /proc cannot be read.
std::optional<ProcSample> ReadProc(int pid);

}  // namespace locktopus::bench

#endif  // LOCKTOPUS_BENCH_PROC_STATS_H_
