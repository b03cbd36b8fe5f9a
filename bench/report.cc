#include "bench/report.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>

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
  if (r.server_cpu_us_per_cycle) {
    out << "server: " << Fixed(*r.server_cpu_us_per_cycle)
        << " us CPU per cycle";
    if (r.server_system_us_per_cycle) {
      out << " (" << Fixed(*r.server_system_us_per_cycle) << " in the kernel)";
    }
    out << "\n";
  }
  if (r.server_voluntary_switches_per_cycle &&
      r.server_involuntary_switches_per_cycle) {
    out << "server context switches per cycle: "
        << Fixed(*r.server_voluntary_switches_per_cycle, 3) << " voluntary, "
        << Fixed(*r.server_involuntary_switches_per_cycle, 3)
        << " involuntary\n";
  }
  if (r.server_syscalls_per_cycle) {
    out << "server system calls per cycle: "
        << Fixed(*r.server_syscalls_per_cycle, 2) << " (perf, over "
        << r.syscall_cycles << " cycles after the window)\n";
  }
  if (r.server_rss_kb) out << "server RSS: " << *r.server_rss_kb << " kB\n";
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
      {"server_cpu_us_per_cycle", OrNull(r.server_cpu_us_per_cycle)},
      {"server_system_us_per_cycle", OrNull(r.server_system_us_per_cycle)},
      {"server_rss_kb", OrNull(r.server_rss_kb)},
      {"server_voluntary_switches_per_cycle",
       OrNull(r.server_voluntary_switches_per_cycle)},
      {"server_involuntary_switches_per_cycle",
       OrNull(r.server_involuntary_switches_per_cycle)},
      {"server_syscalls_per_cycle", OrNull(r.server_syscalls_per_cycle)},
      {"syscall_cycles", r.syscall_cycles},
      {"idle_connections", r.idle_open},
      {"idle_bytes_per_connection", OrNull(r.idle_bytes_per_connection())},
  };
  return json::serialize(o);
}

}  // namespace locktopus::bench
