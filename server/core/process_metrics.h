// The process_* series of /metrics (metrics.h's ProcessSample), read from
// Linux's /proc/self as the Prometheus client libraries read them: CPU
// time, start time and memory from /proc/self/stat, open descriptors from
// /proc/self/fd, their limit from getrlimit. The parsers are pure, for the
// tests; ReadProcessSample does the I/O.
//
// Thread safety: every function may be called from any thread.

#ifndef LOCKTOPUS_SERVER_CORE_PROCESS_METRICS_H_
#define LOCKTOPUS_SERVER_CORE_PROCESS_METRICS_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "server/core/metrics.h"

namespace locktopus::server {

// What /proc/PID/stat says of a process, in its own units.
struct ProcStat {
  std::uint64_t cpu_ticks = 0;    // utime + stime, in clock ticks
  std::uint64_t start_ticks = 0;  // starttime: clock ticks after boot
  std::uint64_t virtual_bytes = 0;
  std::uint64_t resident_pages = 0;
};

// Reads the text of /proc/PID/stat; nullopt if it is not that. The command
// name (field 2, in parentheses) may hold spaces and parentheses: fields
// are counted from its last ')'.
std::optional<ProcStat> ParseProcStat(std::string_view text);

// `stat` in the units of the process_* series: clock ticks of
// `ticks_per_second`, pages of `page_size` bytes, the start time counted
// from `boot_time_nanos` (the boot, in nanoseconds since the epoch). The
// descriptors are left at 0.
ProcessSample ToProcessSample(const ProcStat& stat,
                              std::uint64_t ticks_per_second,
                              std::uint64_t page_size,
                              std::uint64_t boot_time_nanos);

// This process now; nullopt where /proc/self/stat cannot be
// read (not Linux, or no /proc).
std::optional<ProcessSample> ReadProcessSample();

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_PROCESS_METRICS_H_
