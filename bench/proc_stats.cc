#include "bench/proc_stats.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace locktopus::bench {
namespace {

// utime + stime in clock ticks: fields 14 and 15 of /proc/PID/stat, counted
// after the command name, which is in parentheses and may hold spaces.
std::optional<std::uint64_t> CpuTicks(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  std::string skip;
  for (int field = 3; field <= 13; ++field) fields >> skip;
  std::uint64_t utime = 0;
  std::uint64_t stime = 0;
  if (!(fields >> utime >> stime)) return std::nullopt;
  return utime + stime;
}

std::optional<std::uint64_t> RssKb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream value(line.substr(6));
      std::uint64_t kb = 0;
      if (value >> kb) return kb;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<ProcSample> ReadProc(int pid) {
  const auto ticks = CpuTicks(pid);
  const auto rss = RssKb(pid);
  if (!ticks || !rss) return std::nullopt;
  const double ticks_per_s = static_cast<double>(sysconf(_SC_CLK_TCK));
  return ProcSample{static_cast<double>(*ticks) * 1e6 / ticks_per_s, *rss};
}

}  // namespace locktopus::bench
