// The load generator's results and how they are printed: a few lines for
// people, and one JSON object for scripts; and the benchmark's tables, the
// medians and ratios of many such runs (scripts/bench.sh).
//
// Thread safety: pure functions over values; RunSet is a plain value.

#ifndef LOCKTOPUS_BENCH_REPORT_H_
#define LOCKTOPUS_BENCH_REPORT_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
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

// A process's work over the measured window, per cycle: its CPU time and
// the context switches of its threads (bench/proc_stats.h).
struct ProcessCost {
  std::optional<double> cpu_us;     // user + system
  std::optional<double> system_us;  // of it, in the kernel
  std::optional<double> voluntary_switches;
  std::optional<double> involuntary_switches;
};

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
  // With --pings, before the load: ping sent → pong received on a
  // connection of its own (bench/ping.h).
  Percentiles ping;

  // Anything but zero fails the run.
  std::uint64_t connect_failures = 0;
  std::uint64_t protocol_errors = 0;
  std::uint64_t unexpected_closes = 0;
  std::uint64_t stuck = 0;  // load clients that never finished their cycle
  std::string first_error;
  std::uint64_t violations = 0;
  std::string first_violation;

  // With --server-pid: the server's work per cycle, and its RSS at the
  // window's end.
  ProcessCost server;
  std::optional<std::uint64_t> server_rss_kb;
  // With --standby-pid: a replicating standby's work per cycle.
  ProcessCost standby;
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

// ---- the benchmark's tables ------------------------------------------------

// The numbers of one run's JSON line (ToJson), by name; those that were
// null are not there.
using RunFigures = std::map<std::string, double, std::less<>>;

// The figures of the JSON line in a load generator's output; nullopt if it
// has none (the run gave no result).
std::optional<RunFigures> ReadRunFigures(std::string_view output);

// The runs of one benchmark: each the figures of one run of one kind of
// server in one scenario. The kinds scripts/bench.sh runs: real (this
// tree's server), session (it, each client in a resumable session), ha (it
// in HA mode), repl (it as the active of an HA group with an in-sync
// standby, whose figures are the standby_ ones), uring (the io_uring
// build's), floor
// (the always-grant floor), serial (the serializing floor), baseline
// (another build) and redis.
class RunSet {
 public:
  // Every file of `dir` named <kind>.<scenario>.<run>, each a load
  // generator's whole output; a run without a result counts as one with no
  // figures.
  static RunSet Load(const std::filesystem::path& dir);

  void Add(const std::string& kind, const std::string& scenario, int run,
           RunFigures figures);

  // Whether `kind` ran in `scenario`.
  bool Ran(std::string_view kind, std::string_view scenario) const;

  // One figure of one run.
  std::optional<double> Figure(std::string_view kind, std::string_view scenario,
                               int run, std::string_view figure) const;

  // The median of `figure` over the runs of `kind` in `scenario` that have
  // it (of an even count, the lower middle one); nullopt if none has it.
  std::optional<double> Median(std::string_view kind, std::string_view scenario,
                               std::string_view figure) const;

 private:
  // By kind, then scenario, then run.
  std::map<std::string,
           std::map<std::string, std::map<int, RunFigures>, std::less<>>,
           std::less<>>
      runs_;
};

struct TableOptions {
  // {name, label} in the tables' order: "one", "1 client".
  std::vector<std::pair<std::string, std::string>> scenarios;
  bool baseline = false;  // add the baseline's columns
};

// The scenario whose runs give the idle memory line: idle connections only.
inline constexpr std::string_view kIdleScenario = "idle";

// The benchmark's tables in Markdown, a blank line after each: per scenario
// the real server's cycles/s, latencies and CPU per cycle with the other
// servers' and the ratios between them; the kernel's work (system calls,
// context switches); the whole cycle's latency; the replicated group's
// active and standby against the standalone server, and the bound on its
// one-client p50 (the standalone p50 plus two of the real runs' loopback
// round trips), if repl ran; then the idle memory line, if kIdleScenario
// ran. Medians over the runs; "-" where a server did not
// run or a figure was not measured. A scenario's floor is the serializing
// floor if that ran there, else the always-grant floor.
void PrintTables(const RunSet& runs, const TableOptions& options,
                 std::ostream& out);

// Run `run` of `scenario`, for progress: "real 10086 cycles/s floor 10712
// cycles/s", in the order scripts/bench.sh runs the kinds.
std::string RunLine(const RunSet& runs, std::string_view scenario, int run);

}  // namespace locktopus::bench

#endif  // LOCKTOPUS_BENCH_REPORT_H_
