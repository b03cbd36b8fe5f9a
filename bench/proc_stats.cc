#include "bench/proc_stats.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace locktopus::bench {
namespace {

struct Ticks {
  std::uint64_t user = 0;
  std::uint64_t system = 0;
};

// utime and stime in clock ticks: fields 14 and 15 of /proc/PID/stat,
// counted after the command name, which is in parentheses and may hold
// spaces.
std::optional<Ticks> CpuTicks(int pid) {
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
  return Ticks{utime, stime};
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
  const auto us = [ticks_per_s](std::uint64_t t) {
    return static_cast<double>(t) * 1e6 / ticks_per_s;
  };
  return ProcSample{us(ticks->user + ticks->system), us(ticks->system), *rss};
}

}  // namespace locktopus::bench
