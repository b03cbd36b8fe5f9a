// What the load generator reads about the server process from /proc: CPU
// time spent (/proc/PID/stat: utime + stime, and stime alone), resident
// memory (/proc/PID/status, VmRSS) and context switches (the
// voluntary_ctxt_switches and nonvoluntary_ctxt_switches lines of
// /proc/PID/task/TID/status, summed over the process's threads). Reading
// them costs the server nothing. Linux only.
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
  // Context switches so far, of the threads alive now: voluntary ones (the
  // thread blocked, as in epoll_wait) and involuntary ones (preempted).
  std::uint64_t voluntary_switches = 0;
  std::uint64_t involuntary_switches = 0;
};

// nullopt if the process does not exist or /proc cannot be read.
std::optional<ProcSample> ReadProc(int pid);

}  // namespace locktopus::bench

#endif  // LOCKTOPUS_BENCH_PROC_STATS_H_
