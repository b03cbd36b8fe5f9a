#include "server/core/process_metrics.h"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace locktopus::server {
namespace {

std::optional<std::uint64_t> Number(std::string_view text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::optional<std::string> ReadWhole(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::optional<ProcStat> ParseProcStat(std::string_view text) {
  const std::size_t paren = text.rfind(')');
  if (paren == std::string_view::npos) return std::nullopt;
  // Fields 3 on (state, ppid, ...), separated by single spaces.
  std::vector<std::string_view> fields;
  std::string_view rest = text.substr(paren + 1);
  while (!rest.empty()) {
    const std::size_t start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const std::size_t end = std::min(rest.find_first_of(" \n"), rest.size());
    fields.push_back(rest.substr(0, end));
    rest.remove_prefix(end);
  }
  // Field N (proc(5), from 1) is fields[N - 3].
  const auto field = [&fields](std::size_t n) -> std::optional<std::uint64_t> {
    if (n - 3 >= fields.size()) return std::nullopt;
    return Number(fields[n - 3]);
  };
  const auto utime = field(14), stime = field(15), start = field(22),
             vsize = field(23), rss = field(24);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  return ProcStat{.cpu_ticks = *utime + *stime,
                  .start_ticks = *start,
                  .virtual_bytes = *vsize,
                  .resident_pages = *rss};
}

ProcessSample ToProcessSample(const ProcStat& stat,
                              std::uint64_t ticks_per_second,
                              std::uint64_t page_size,
                              std::uint64_t boot_time_nanos) {
  constexpr std::uint64_t kNanos = 1'000'000'000;
  const auto nanos = [ticks_per_second](std::uint64_t ticks) {
    return ticks / ticks_per_second * kNanos +
           ticks % ticks_per_second * kNanos / ticks_per_second;
  };
  return {.cpu_nanos = nanos(stat.cpu_ticks),
          .start_time_nanos = boot_time_nanos + nanos(stat.start_ticks),
          .resident_bytes = stat.resident_pages * page_size,
          .virtual_bytes = stat.virtual_bytes};
}

std::optional<ProcessSample> ReadProcessSample() {
  const std::optional<std::string> stat_text = ReadWhole("/proc/self/stat");
  if (!stat_text) return std::nullopt;
  const std::optional<ProcStat> stat = ParseProcStat(*stat_text);
  // The boot time, from the wall clock less the time since the boot (the
  // clock /proc/PID/stat's start time counts on), not from /proc/stat,
  // which a sandbox hides (systemd's ProcSubset=pid). Read once.
  static const std::optional<std::uint64_t> boot_time =
      []() -> std::optional<std::uint64_t> {
    timespec wall{}, boot{};
    if (clock_gettime(CLOCK_REALTIME, &wall) != 0 ||
        clock_gettime(CLOCK_BOOTTIME, &boot) != 0) {
      return std::nullopt;
    }
    constexpr std::int64_t kNanos = 1'000'000'000;
    const std::int64_t since_epoch = wall.tv_sec * kNanos + wall.tv_nsec;
    const std::int64_t since_boot = boot.tv_sec * kNanos + boot.tv_nsec;
    if (since_epoch < since_boot) return std::nullopt;
    return static_cast<std::uint64_t>(since_epoch - since_boot);
  }();
  const long ticks = sysconf(_SC_CLK_TCK);
  const long page = sysconf(_SC_PAGESIZE);
  if (!stat || !boot_time || ticks <= 0 || page <= 0) return std::nullopt;
  ProcessSample sample =
      ToProcessSample(*stat, static_cast<std::uint64_t>(ticks),
                      static_cast<std::uint64_t>(page), *boot_time);
  std::error_code ec;
  for (std::filesystem::directory_iterator fd("/proc/self/fd", ec), end;
       !ec && fd != end; fd.increment(ec)) {
    ++sample.open_fds;
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) sample.max_fds = limit.rlim_cur;
  return sample;
}

}  // namespace locktopus::server
