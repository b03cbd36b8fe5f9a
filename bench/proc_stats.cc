#include "bench/proc_stats.h"

#include <unistd.h>

#include <filesystem>
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

struct Switches {
  std::uint64_t voluntary = 0;
  std::uint64_t involuntary = 0;
};

// Summed over /proc/PID/task/*: /proc/PID/status counts the main thread
// alone. A thread that ends between two readings takes its switches along.
std::optional<Switches> ContextSwitches(int pid) {
  std::error_code ec;
  std::filesystem::directory_iterator tasks(
      "/proc/" + std::to_string(pid) + "/task", ec);
  if (ec) return std::nullopt;
  Switches total;
  for (const auto& task : tasks) {
    std::ifstream in(task.path() / "status");
    for (std::string line; std::getline(in, line);) {
      std::uint64_t* into = nullptr;
      std::size_t skip = 0;
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0) {
        into = &total.voluntary;
        skip = 24;
      } else if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
        into = &total.involuntary;
        skip = 27;
      } else {
        continue;
      }
      std::istringstream value(line.substr(skip));
      std::uint64_t n = 0;
      if (value >> n) *into += n;
    }
  }
  return total;
}

}  // namespace

std::optional<ProcSample> ReadProc(int pid) {
  const auto ticks = CpuTicks(pid);
  const auto rss = RssKb(pid);
  const auto switches = ContextSwitches(pid);
  if (!ticks || !rss || !switches) return std::nullopt;
  const double ticks_per_s = static_cast<double>(sysconf(_SC_CLK_TCK));
  const auto us = [ticks_per_s](std::uint64_t t) {
    return static_cast<double>(t) * 1e6 / ticks_per_s;
  };
  return ProcSample{us(ticks->user + ticks->system), us(ticks->system), *rss,
                    switches->voluntary, switches->involuntary};
}

}  // namespace locktopus::bench
