// locktopus-bench: the load generator for Locktopus, and the floor server
// it is compared with.
//
//   locktopus-bench --url ws://127.0.0.1:9009/v1?namespace=bench \
//       --clients 64 --keys 8 --read-ratio 0.2 --server-pid PID [--json]
//       [--standby-pid PID] [--pings N]
//   locktopus-bench --url redis://127.0.0.1:6379 --clients 64 ...
//   locktopus-bench --floor-server 9010 [--serialize] [--port-file FILE]
//   locktopus-bench --report DIR --scenario one "1 client" ...
//   [--with-baseline] locktopus-bench --report DIR --run-line one 1
//
// Each load client holds one WebSocket connection and loops: lock → (maybe
// enqueued) → acquired → hold → release → ready. A shadow of the held
// resources catches any two clients holding conflicting locks at once.
// Against redis://, each client takes and releases a Redis lock on a key of
// its own instead (bench/redis_client.h).
// With --report, prints scripts/bench.sh's tables from the outputs of its
// runs instead (bench/report.h).
// Exits 1 if there was a violation (unless --violations-expected) or an
// error, 2 on bad flags.

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "bench/floor_server.h"
#include "bench/load_run.h"
#include "bench/report.h"

namespace {

using locktopus::bench::LoadOptions;

int Cores() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

int main(int argc, char** argv) {
  LoadOptions o;
  o.threads = Cores();
  int hold_ms = 0;
  int server_pid = 0;
  int floor_port = -1;
  std::string port_file;
  bool json = false;

  CLI::App app{"Load generator for the Locktopus lock server",
               "locktopus-bench"};
  app.get_formatter()->column_width(30);
  app.add_option("--url", o.url,
                 "Server to load: ws://HOST:PORT/PATH?QUERY, or "
                 "redis://HOST:PORT for Redis locks, one key per client")
      ->capture_default_str();
  app.add_option("--clients", o.clients, "Load clients, one connection each")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--keys", o.workload.keys, "Distinct keys to lock")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--depth", o.workload.depth,
                 "Segments per path: [\"k17\",\"k17\",...]; 0 locks []")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  app.add_option("--resources", o.workload.resources, "Resources per lock")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--read-ratio", o.workload.read_ratio,
                 "Chance that a resource is a read")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--duration", o.duration_s, "Measured seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup_s, "Seconds of load before measuring")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--hold", hold_ms,
                 "Milliseconds from acquired received to release sent")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--idle", o.idle,
                 "Extra idle connections, opened first; with --server-pid, "
                 "reports the server's RSS per idle connection")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--threads", o.threads, "I/O threads (default: cores)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", o.workload.seed, "Seed of the clients' choices")
      ->capture_default_str();
  app.add_option("--server-pid", server_pid,
                 "Server process: report its CPU per cycle and RSS")
      ->check(CLI::PositiveNumber);
  int standby_pid = 0;
  app.add_option("--standby-pid", standby_pid,
                 "A standby that replicates the server (HA): report its CPU "
                 "per cycle too")
      ->check(CLI::PositiveNumber);
  app.add_option("--pings", o.pings,
                 "Before the load, time this many WebSocket pings, one after "
                 "another, on a connection of their own: a loopback round "
                 "trip to the server, for scale")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--count-syscalls", o.syscall_window_s,
                 "With --server-pid: after the measured window, count the "
                 "server's system calls for this many seconds with perf "
                 "(needs root) and report them per cycle; 0: not counted")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  CLI::Option* floor =
      app.add_option("--floor-server", floor_port,
                     "Run the always-grant floor server on 127.0.0.1:PORT "
                     "instead of generating load (0: any free port)")
          ->check(CLI::Range(0, 65535));
  bool serialize = false;
  app.add_flag("--serialize", serialize,
               "With --floor-server: locks on the same resources wait for "
               "each other, one holder at a time, first come first served "
               "(the floor for contention)")
      ->needs(floor);
  app.add_option("--port-file", port_file,
                 "With --floor-server: once listening, write the port to "
                 "FILE (for scripts that start it with port 0)")
      ->needs(floor);
  app.add_flag("--json", json, "Also print the results as one JSON object");
  bool violations_expected = false;
  app.add_flag("--violations-expected", violations_expected,
               "Violations do not fail the run (for a server that grants "
               "conflicting locks on purpose: the always-grant floor)");
  std::string report_dir;
  CLI::Option* report =
      app.add_option("--report", report_dir,
                     "Print the benchmark's tables from DIR, which holds the "
                     "output of each run (--json) as <kind>.<scenario>.<run>, "
                     "instead of generating load");
  locktopus::bench::TableOptions tables;
  app.add_option("--scenario", tables.scenarios,
                 "With --report: a scenario's NAME and LABEL, one table row, "
                 "in order")
      ->needs(report);
  app.add_flag("--with-baseline", tables.baseline,
               "With --report: add the baseline's columns")
      ->needs(report);
  std::pair<std::string, int> run_line;
  CLI::Option* run_line_option =
      app.add_option("--run-line", run_line,
                     "With --report: print one run's cycles/s of each kind "
                     "instead, given the scenario's NAME and the RUN")
          ->needs(report);
  CLI11_PARSE(app, argc, argv);

  if (*report) {
    try {
      const auto runs = locktopus::bench::RunSet::Load(report_dir);
      if (*run_line_option) {
        std::cout << RunLine(runs, run_line.first, run_line.second) << "\n";
      } else {
        PrintTables(runs, tables, std::cout);
      }
    } catch (const std::exception& e) {
      std::cerr << "locktopus-bench: " << e.what() << "\n";
      return 1;
    }
    return 0;
  }

  if (floor_port >= 0) {
    return locktopus::bench::RunFloorServer(
        static_cast<std::uint16_t>(floor_port), o.threads, port_file,
        serialize);
  }
  o.workload.hold = std::chrono::milliseconds(hold_ms);
  if (server_pid > 0) o.server_pid = server_pid;
  if (standby_pid > 0) o.standby_pid = standby_pid;

  auto target = locktopus::bench::ResolveTarget(o.url);
  if (!target.ok()) {
    std::cerr << "locktopus-bench: " << target.error().message << "\n";
    return 2;
  }
  const auto results = locktopus::bench::RunLoad(o, target.value());
  PrintText(results, std::cout);
  if (json) std::cout << ToJson(results) << "\n";
  return results.errors() > 0 ||
                 (results.violations > 0 && !violations_expected)
             ? 1
             : 0;
}
