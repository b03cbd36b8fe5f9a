#include "bench/report.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

namespace locktopus::bench {
namespace json = boost::json;
namespace {

double At(const std::vector<std::int64_t>& sorted, double fraction) {
  const auto rank = static_cast<std::size_t>(
      std::ceil(fraction * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::max<std::size_t>(rank, 1) - 1]) / 1e3;
}

std::string Fixed(double value, int decimals = 1) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string Line(const char* name, const Percentiles& p) {
  return std::string(name) + "p50 " + Fixed(p.p50_us) + " us   p99 " +
         Fixed(p.p99_us) + " us   p99.9 " + Fixed(p.p999_us) + " us   (" +
         std::to_string(p.count) + " samples)\n";
}

template <typename T>
json::value OrNull(const std::optional<T>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

// "server: 31.9 us CPU per cycle (12.3 in the kernel)" and its context
// switches, if measured.
void PrintCost(std::string_view who, const ProcessCost& cost,
               std::ostream& out) {
  if (cost.cpu_us) {
    out << who << ": " << Fixed(*cost.cpu_us) << " us CPU per cycle";
    if (cost.system_us)
      out << " (" << Fixed(*cost.system_us) << " in the kernel)";
    out << "\n";
  }
  if (cost.voluntary_switches && cost.involuntary_switches) {
    out << who
        << " context switches per cycle: " << Fixed(*cost.voluntary_switches, 3)
        << " voluntary, " << Fixed(*cost.involuntary_switches, 3)
        << " involuntary\n";
  }
}

// <who>_cpu_us_per_cycle, <who>_system_us_per_cycle and the two context
// switch figures, null where not measured.
void AddCost(std::string_view who, const ProcessCost& cost, json::object& o) {
  const std::string prefix(who);
  o[prefix + "_cpu_us_per_cycle"] = OrNull(cost.cpu_us);
  o[prefix + "_system_us_per_cycle"] = OrNull(cost.system_us);
  o[prefix + "_voluntary_switches_per_cycle"] = OrNull(cost.voluntary_switches);
  o[prefix + "_involuntary_switches_per_cycle"] =
      OrNull(cost.involuntary_switches);
}

// ---- the benchmark's tables ----

// "-" for a figure not there.
std::string Cell(std::optional<double> v, int decimals) {
  return v ? Fixed(*v, decimals) : "-";
}

// a / b, when both are there and b is positive.
std::string Ratio(std::optional<double> a, std::optional<double> b) {
  return a && b && *b > 0 ? Fixed(*a / *b, 2) : "-";
}

// "| a | b | c |"
std::string Row(const std::vector<std::string>& cells) {
  std::string row = "|";
  for (const std::string& cell : cells) row += " " + cell + " |";
  return row;
}

// median(kind, figure): the median of a figure over the runs of a kind in
// `scenario`.
auto MediansOf(const RunSet& runs, const std::string& scenario) {
  return [&runs, &scenario](std::string_view kind, std::string_view figure) {
    return runs.Median(kind, scenario, figure);
  };
}

// The servers of a scenario's kernel and latency tables, in their order.
std::vector<std::string> KindsOf(const RunSet& runs,
                                 std::string_view scenario) {
  return {"real", "uring", runs.Ran("serial", scenario) ? "serial" : "floor",
          "redis", "ha"};
}

void PrintCpuTable(const RunSet& runs, const TableOptions& o,
                   std::ostream& out) {
  out << "| scenario | cycles/s | p50 µs | p99 µs | cycle p99 µs | server "
         "µs/cycle | of it kernel | floor µs/cycle | of it kernel | ratio to "
         "floor | Redis µs/cycle | of it kernel | ratio to Redis | io_uring "
         "µs/cycle | of it kernel | io_uring to Redis | HA µs/cycle | HA / "
         "standalone | session µs/cycle | session / plain |"
      << (o.baseline ? " baseline µs/cycle | ratio to baseline |" : "")
      << "\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
         "|---:|---:|---:|---:|---:|---:|---:|"
      << (o.baseline ? "---:|---:|" : "") << "\n";
  for (const auto& scenario : o.scenarios) {
    const std::string& name = scenario.first;
    const std::string& label = scenario.second;
    const std::string floor = KindsOf(runs, name)[2];
    const auto median = MediansOf(runs, name);
    const std::optional<double> cpu = median("real", "server_cpu_us_per_cycle");
    const std::optional<double> floor_cpu =
        median(floor, "server_cpu_us_per_cycle");
    const std::optional<double> redis_cpu =
        median("redis", "server_cpu_us_per_cycle");
    const std::optional<double> uring_cpu =
        median("uring", "server_cpu_us_per_cycle");
    const std::optional<double> ha_cpu =
        median("ha", "server_cpu_us_per_cycle");
    const std::optional<double> session_cpu =
        median("session", "server_cpu_us_per_cycle");
    std::vector<std::string> cells = {
        label,
        Cell(median("real", "cycles_per_s"), 0),
        Cell(median("real", "acquire_p50_us"), 0),
        Cell(median("real", "acquire_p99_us"), 0),
        Cell(median("real", "cycle_p99_us"), 0),
        Cell(cpu, 1),
        Cell(median("real", "server_system_us_per_cycle"), 1),
        Cell(floor_cpu, 1),
        Cell(median(floor, "server_system_us_per_cycle"), 1),
        Ratio(cpu, floor_cpu),
        Cell(redis_cpu, 1),
        Cell(median("redis", "server_system_us_per_cycle"), 1),
        Ratio(cpu, redis_cpu),
        Cell(uring_cpu, 1),
        Cell(median("uring", "server_system_us_per_cycle"), 1),
        Ratio(uring_cpu, redis_cpu),
        Cell(ha_cpu, 1),
        Ratio(ha_cpu, cpu),
        Cell(session_cpu, 1),
        Ratio(session_cpu, cpu)};
    if (o.baseline) {
      const std::optional<double> baseline_cpu =
          median("baseline", "server_cpu_us_per_cycle");
      cells.push_back(Cell(baseline_cpu, 1));
      cells.push_back(Ratio(cpu, baseline_cpu));
    }
    out << Row(cells) << "\n";
  }
}

void PrintKernelTable(const RunSet& runs, const TableOptions& o,
                      std::ostream& out) {
  out << "| scenario | system calls: server | io_uring | floor | Redis | HA | "
         "context switches, voluntary / involuntary: server | io_uring | "
         "floor | Redis | HA |"
      << (o.baseline ? " baseline system calls | baseline context switches |"
                     : "")
      << "\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
      << (o.baseline ? "---:|---:|" : "") << "\n";
  for (const auto& scenario : o.scenarios) {
    const std::string& name = scenario.first;
    const std::string& label = scenario.second;
    auto syscalls = [&runs, &name](std::string_view kind) {
      return Cell(runs.Median(kind, name, "server_syscalls_per_cycle"), 2);
    };
    auto switches = [&runs, &name](std::string_view kind) {
      const std::optional<double> voluntary =
          runs.Median(kind, name, "server_voluntary_switches_per_cycle");
      const std::optional<double> involuntary =
          runs.Median(kind, name, "server_involuntary_switches_per_cycle");
      return voluntary ? Fixed(*voluntary, 3) + " / " + Cell(involuntary, 3)
                       : "-";
    };
    const std::vector<std::string> kinds = KindsOf(runs, name);
    std::vector<std::string> cells = {label};
    for (const std::string& kind : kinds) cells.push_back(syscalls(kind));
    for (const std::string& kind : kinds) cells.push_back(switches(kind));
    if (o.baseline) {
      cells.push_back(syscalls("baseline"));
      cells.push_back(switches("baseline"));
    }
    out << Row(cells) << "\n";
  }
}

void PrintLatencyTable(const RunSet& runs, const TableOptions& o,
                       std::ostream& out) {
  out << "| scenario | whole cycle p50 / p99 µs: server | io_uring | floor | "
         "Redis | HA |\n|---|---:|---:|---:|---:|---:|\n";
  for (const auto& scenario : o.scenarios) {
    const std::string& name = scenario.first;
    const std::string& label = scenario.second;
    std::vector<std::string> cells = {label};
    for (const std::string& kind : KindsOf(runs, name)) {
      const std::optional<double> p50 = runs.Median(kind, name, "cycle_p50_us");
      const std::optional<double> p99 = runs.Median(kind, name, "cycle_p99_us");
      cells.push_back(p50 ? Fixed(*p50, 0) + " / " + Cell(p99, 0) : "-");
    }
    out << Row(cells) << "\n";
  }
}

// The replicated group's active and standby, against the standalone
// server of the same runs: one row per scenario where it ran.
void PrintReplicatedTable(const RunSet& runs, const TableOptions& o,
                          std::ostream& out) {
  out << "| scenario | replicated: cycles/s | active µs/cycle | of it kernel "
         "| active / standalone | standby µs/cycle | of it kernel | active "
         "system calls per cycle | voluntary context switches per cycle: "
         "active · standby | whole cycle p50 µs | loopback round trip p50 µs "
         "| p50 bound: standalone + 2 round trips µs |\n|---|---:|---:|---:|"
         "---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& scenario : o.scenarios) {
    const std::string& name = scenario.first;
    if (!runs.Ran("repl", name)) continue;
    const auto median = MediansOf(runs, name);
    const std::optional<double> cpu = median("repl", "server_cpu_us_per_cycle");
    const std::optional<double> round_trip = median("real", "ping_p50_us");
    const std::optional<double> standalone_p50 = median("real", "cycle_p50_us");
    std::optional<double> bound;
    if (round_trip && standalone_p50) {
      bound = *standalone_p50 + 2 * *round_trip;
    }
    out << Row({scenario.second, Cell(median("repl", "cycles_per_s"), 0),
                Cell(cpu, 1),
                Cell(median("repl", "server_system_us_per_cycle"), 1),
                Ratio(cpu, median("real", "server_cpu_us_per_cycle")),
                Cell(median("repl", "standby_cpu_us_per_cycle"), 1),
                Cell(median("repl", "standby_system_us_per_cycle"), 1),
                Cell(median("repl", "server_syscalls_per_cycle"), 2),
                Cell(median("repl", "server_voluntary_switches_per_cycle"), 3) +
                    " · " +
                    Cell(median("repl", "standby_voluntary_switches_per_cycle"),
                         3),
                Cell(median("repl", "cycle_p50_us"), 0), Cell(round_trip, 0),
                Cell(bound, 0)})
        << "\n";
  }
}

// "idle memory: 10000 connections: locktopus 5290 bytes each, ..."
void PrintIdleLine(const RunSet& runs, const TableOptions& o,
                   std::ostream& out) {
  auto bytes = [&runs](std::string_view kind) {
    return Cell(runs.Median(kind, kIdleScenario, "idle_bytes_per_connection"),
                0);
  };
  out << "idle memory: "
      << Cell(runs.Median("real", kIdleScenario, "idle_requested"), 0)
      << " connections: locktopus " << bytes("real") << " bytes each, floor "
      << bytes("floor") << " bytes each";
  if (runs.Ran("uring", kIdleScenario)) {
    out << ", io_uring build " << bytes("uring") << " bytes each";
  }
  if (o.baseline) out << ", baseline " << bytes("baseline") << " bytes each";
  out << " (server RSS growth / connections)\n";
}

}  // namespace

Percentiles Summarize(std::vector<std::int64_t>& ns) {
  if (ns.empty()) return {};
  std::sort(ns.begin(), ns.end());
  return {ns.size(), At(ns, 0.50), At(ns, 0.99), At(ns, 0.999)};
}

std::optional<double> Results::idle_bytes_per_connection() const {
  if (!idle_rss_before_kb || !idle_rss_after_kb || idle_open == 0) {
    return std::nullopt;
  }
  const double grown_kb = static_cast<double>(*idle_rss_after_kb) -
                          static_cast<double>(*idle_rss_before_kb);
  return grown_kb * 1024 / idle_open;
}

void PrintText(const Results& r, std::ostream& out) {
  const Workload& w = r.workload;
  out << r.url << ": " << r.clients << " clients, " << r.threads
      << " threads; ";
  if (r.redis) {
    out << "one key per client, SET NX PX + compare-and-delete script";
  } else {
    out << "keys " << w.keys << ", depth " << w.depth << ", " << w.resources
        << " resources per lock, " << Fixed(w.read_ratio * 100, 0) << "% reads";
  }
  out << ", hold " << w.hold.count() << " ms\n";
  if (r.window_s > 0) {
    const double enqueued_pct =
        r.cycles > 0 ? 100.0 * static_cast<double>(r.enqueued) / r.cycles : 0;
    out << "window " << Fixed(r.window_s) << " s: " << r.cycles << " cycles, "
        << Fixed(r.cycles_per_s()) << " cycles/s, " << Fixed(enqueued_pct)
        << "% of locks enqueued first\n";
    out << Line("lock -> acquired   ", r.acquire);
    out << Line("lock -> ready      ", r.cycle);
  }
  if (r.ping.count > 0) out << Line("ping -> pong       ", r.ping);
  PrintCost("server", r.server, out);
  if (r.server_syscalls_per_cycle) {
    out << "server system calls per cycle: "
        << Fixed(*r.server_syscalls_per_cycle, 2) << " (perf, over "
        << r.syscall_cycles << " cycles after the window)\n";
  }
  if (r.server_rss_kb) out << "server RSS: " << *r.server_rss_kb << " kB\n";
  PrintCost("standby", r.standby, out);
  if (r.idle_requested > 0) {
    out << "idle: " << r.idle_open << " of " << r.idle_requested
        << " connections open";
    if (auto bytes = r.idle_bytes_per_connection()) {
      out << "; server RSS " << *r.idle_rss_before_kb << " kB -> "
          << *r.idle_rss_after_kb << " kB: " << Fixed(*bytes, 0)
          << " bytes per idle connection";
    } else {
      out << " (server memory not measured: no --server-pid)";
    }
    out << "\n";
  }
  out << "errors: " << r.errors() << " (connect failures " << r.connect_failures
      << ", protocol errors " << r.protocol_errors << ", unexpected closes "
      << r.unexpected_closes << ", stuck " << r.stuck << ")\n";
  if (!r.first_error.empty()) out << "first error: " << r.first_error << "\n";
  out << "violations: " << r.violations << "\n";
  if (!r.first_violation.empty()) {
    out << "first violation: " << r.first_violation << "\n";
  }
}

std::string ToJson(const Results& r) {
  const Workload& w = r.workload;
  json::object o{
      {"url", r.url},
      {"redis", r.redis},
      {"clients", r.clients},
      {"threads", r.threads},
      {"keys", w.keys},
      {"depth", w.depth},
      {"resources", w.resources},
      {"read_ratio", w.read_ratio},
      {"hold_ms", w.hold.count()},
      {"window_s", r.window_s},
      {"cycles", r.cycles},
      {"cycles_per_s", r.cycles_per_s()},
      {"enqueued", r.enqueued},
      {"acquire_p50_us", r.acquire.p50_us},
      {"acquire_p99_us", r.acquire.p99_us},
      {"acquire_p999_us", r.acquire.p999_us},
      {"cycle_p50_us", r.cycle.p50_us},
      {"cycle_p99_us", r.cycle.p99_us},
      {"cycle_p999_us", r.cycle.p999_us},
      {"errors", r.errors()},
      {"connect_failures", r.connect_failures},
      {"protocol_errors", r.protocol_errors},
      {"unexpected_closes", r.unexpected_closes},
      {"stuck", r.stuck},
      {"violations", r.violations},
      {"server_rss_kb", OrNull(r.server_rss_kb)},
      {"server_syscalls_per_cycle", OrNull(r.server_syscalls_per_cycle)},
      {"syscall_cycles", r.syscall_cycles},
      {"idle_requested", r.idle_requested},
      {"idle_connections", r.idle_open},
      {"idle_bytes_per_connection", OrNull(r.idle_bytes_per_connection())},
  };
  AddCost("server", r.server, o);
  AddCost("standby", r.standby, o);
  if (r.ping.count > 0) {
    o["ping_p50_us"] = r.ping.p50_us;
    o["ping_p99_us"] = r.ping.p99_us;
  }
  return json::serialize(o);
}

std::optional<RunFigures> ReadRunFigures(std::string_view output) {
  std::string_view line;
  for (std::size_t at = 0; at < output.size();) {
    std::size_t end = output.find('\n', at);
    if (end == std::string_view::npos) end = output.size();
    if (output[at] == '{') line = output.substr(at, end - at);
    at = end + 1;
  }
  boost::system::error_code ec;
  const json::value value = json::parse(line, ec);
  if (line.empty() || ec || !value.is_object()) return std::nullopt;
  RunFigures figures;
  for (const auto& [key, field] : value.get_object()) {
    if (!field.is_number()) continue;
    const double number = field.to_number<double>(ec);
    if (!ec) figures.emplace(key, number);
  }
  return figures;
}

RunSet RunSet::Load(const std::filesystem::path& dir) {
  RunSet runs;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    // <kind>.<scenario>.<run>
    const std::string name = entry.path().filename().string();
    const std::size_t first = name.find('.');
    const std::size_t last = name.rfind('.');
    if (first == std::string::npos || first == last) continue;
    int run = 0;
    try {
      run = std::stoi(name.substr(last + 1));
    } catch (const std::exception&) {
      continue;
    }
    std::ifstream in(entry.path());
    const std::string output{std::istreambuf_iterator<char>(in),
                             std::istreambuf_iterator<char>()};
    runs.Add(name.substr(0, first), name.substr(first + 1, last - first - 1),
             run, ReadRunFigures(output).value_or(RunFigures{}));
  }
  return runs;
}

void RunSet::Add(const std::string& kind, const std::string& scenario, int run,
                 RunFigures figures) {
  runs_[kind][scenario][run] = std::move(figures);
}

bool RunSet::Ran(std::string_view kind, std::string_view scenario) const {
  const auto by_kind = runs_.find(kind);
  return by_kind != runs_.end() && by_kind->second.contains(scenario);
}

std::optional<double> RunSet::Figure(std::string_view kind,
                                     std::string_view scenario, int run,
                                     std::string_view figure) const {
  const auto by_kind = runs_.find(kind);
  if (by_kind == runs_.end()) return std::nullopt;
  const auto by_scenario = by_kind->second.find(scenario);
  if (by_scenario == by_kind->second.end()) return std::nullopt;
  const auto by_run = by_scenario->second.find(run);
  if (by_run == by_scenario->second.end()) return std::nullopt;
  const auto value = by_run->second.find(figure);
  if (value == by_run->second.end()) return std::nullopt;
  return value->second;
}

std::optional<double> RunSet::Median(std::string_view kind,
                                     std::string_view scenario,
                                     std::string_view figure) const {
  if (!Ran(kind, scenario)) return std::nullopt;
  std::vector<double> values;
  for (const auto& [run, figures] :
       runs_.find(kind)->second.find(scenario)->second) {
    if (const auto value = figures.find(figure); value != figures.end()) {
      values.push_back(value->second);
    }
  }
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  return values[(values.size() + 1) / 2 - 1];
}

void PrintTables(const RunSet& runs, const TableOptions& options,
                 std::ostream& out) {
  PrintCpuTable(runs, options, out);
  out << "\n";
  PrintKernelTable(runs, options, out);
  out << "\n";
  PrintLatencyTable(runs, options, out);
  const bool replicated =
      std::any_of(options.scenarios.begin(), options.scenarios.end(),
                  [&runs](const auto& scenario) {
                    return runs.Ran("repl", scenario.first);
                  });
  if (replicated) {
    out << "\n";
    PrintReplicatedTable(runs, options, out);
  }
  if (runs.Ran("real", kIdleScenario)) {
    out << "\n";
    PrintIdleLine(runs, options, out);
  }
}

std::string RunLine(const RunSet& runs, std::string_view scenario, int run) {
  std::string line;
  for (std::string_view kind : {"real", "session", "ha", "repl", "uring",
                                "floor", "serial", "baseline", "redis"}) {
    if (!runs.Ran(kind, scenario)) continue;
    if (!line.empty()) line += ' ';
    line += std::string(kind) + " " +
            Cell(runs.Figure(kind, scenario, run, "cycles_per_s"), 0) +
            " cycles/s";
  }
  return line;
}

}  // namespace locktopus::bench
