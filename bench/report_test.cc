// The benchmark's tables (bench/report.h): a run's figures read from its
// output, medians over runs, and the rows scripts/bench.sh prints.

#include "bench/report.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace locktopus::bench {
namespace {

TEST(BenchReport, ReadsTheFiguresOfTheJsonLine) {
  const auto figures = ReadRunFigures(
      "ws://x: 1 clients\nerrors: 0\n"
      R"({"url":"ws://x","redis":false,"cycles":12,"cycles_per_s":1.5E1,)"
      R"("server_syscalls_per_cycle":null})"
      "\n");
  ASSERT_TRUE(figures.has_value());
  EXPECT_EQ(*figures, (RunFigures{{"cycles", 12}, {"cycles_per_s", 15}}));
  EXPECT_EQ(ReadRunFigures("locktopus-bench: cannot resolve x\n"),
            std::nullopt);
}

TEST(BenchReport, TheMedianOfAnEvenCountIsTheLowerMiddleOne) {
  RunSet runs;
  runs.Add("real", "one", 1, {{"cycles_per_s", 30}});
  runs.Add("real", "one", 2, {{"cycles_per_s", 10}});
  EXPECT_EQ(runs.Median("real", "one", "cycles_per_s"), 10);
  runs.Add("real", "one", 3, {{"cycles_per_s", 20}});
  runs.Add("real", "one", 4, {});  // no result
  EXPECT_EQ(runs.Median("real", "one", "cycles_per_s"), 20);
  EXPECT_EQ(runs.Median("real", "one", "cycle_p99_us"), std::nullopt);
  EXPECT_EQ(runs.Median("floor", "one", "cycles_per_s"), std::nullopt);
}

TEST(BenchReport, PrintsTheTablesRowsAndTheIdleLine) {
  RunSet runs;
  runs.Add("real", "one", 1,
           {{"cycles_per_s", 10086.4},
            {"acquire_p50_us", 91},
            {"acquire_p99_us", 121},
            {"cycle_p50_us", 91},
            {"cycle_p99_us", 195},
            {"server_cpu_us_per_cycle", 64},
            {"server_system_us_per_cycle", 43.84},
            {"server_syscalls_per_cycle", 9.976},
            {"server_voluntary_switches_per_cycle", 1.98},
            {"server_involuntary_switches_per_cycle", 0.0004}});
  runs.Add("session", "one", 1, {{"server_cpu_us_per_cycle", 62.7}});
  runs.Add(
      "serial", "one", 1,
      {{"server_cpu_us_per_cycle", 80}, {"server_system_us_per_cycle", 41.3}});
  runs.Add("real", "idle", 1,
           {{"idle_requested", 10000}, {"idle_bytes_per_connection", 5290.4}});
  runs.Add("floor", "idle", 1, {{"idle_bytes_per_connection", 4413}});
  std::ostringstream out;
  PrintTables(runs, {.scenarios = {{"one", "1 client"}}}, out);
  const std::string text = out.str();
  EXPECT_NE(text.find("| 1 client | 10086 | 91 | 121 | 195 | 64.0 | 43.8 | "
                      "80.0 | 41.3 | 0.80 | - | - | - | - | - | - | - | - | "
                      "62.7 | 0.98 |\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("| 1 client | 9.98 | - | - | - | - | 1.980 / 0.000 | "
                      "- | - | - | - |\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("| 1 client | 91 / 195 | - | - | - | - |\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nidle memory: 10000 connections: locktopus 5290 "
                      "bytes each, floor 4413 bytes each (server RSS growth "
                      "/ connections)\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(RunLine(runs, "one", 1),
            "real 10086 cycles/s session - cycles/s serial - cycles/s");
}

TEST(BenchReport, ComparesTheReplicatedGroupWithTheStandaloneServer) {
  RunSet runs;
  runs.Add("real", "one", 1,
           {{"server_cpu_us_per_cycle", 50},
            {"cycle_p50_us", 100},
            {"ping_p50_us", 40}});
  runs.Add("repl", "one", 1,
           {{"cycles_per_s", 4000},
            {"server_cpu_us_per_cycle", 65},
            {"server_system_us_per_cycle", 30},
            {"server_voluntary_switches_per_cycle", 3.5},
            {"server_syscalls_per_cycle", 17.25},
            {"standby_cpu_us_per_cycle", 20.25},
            {"standby_system_us_per_cycle", 10},
            {"standby_voluntary_switches_per_cycle", 2},
            {"cycle_p50_us", 170}});
  runs.Add("real", "shared", 1, {{"server_cpu_us_per_cycle", 40}});
  std::ostringstream out;
  PrintTables(runs, {.scenarios = {{"one", "1 client"}, {"shared", "8 paths"}}},
              out);
  const std::string text = out.str();
  EXPECT_NE(text.find("| 1 client | 4000 | 65.0 | 30.0 | 1.30 | 20.2 | 10.0 | "
                      "17.25 | 3.500 · 2.000 | 170 | 40 | 180 |\n"),
            std::string::npos)
      << text;
  // Only the scenarios where it ran have a row.
  const std::size_t table = text.find("| active / standalone |");
  ASSERT_NE(table, std::string::npos) << text;
  EXPECT_EQ(text.find("| 8 paths |", table), std::string::npos) << text;
  EXPECT_EQ(RunLine(runs, "one", 1), "real - cycles/s repl 4000 cycles/s");

  RunSet plain;
  plain.Add("real", "one", 1, {{"server_cpu_us_per_cycle", 50}});
  std::ostringstream without;
  PrintTables(plain, {.scenarios = {{"one", "1 client"}}}, without);
  EXPECT_EQ(without.str().find("active / standalone"), std::string::npos);
}

}  // namespace
}  // namespace locktopus::bench
