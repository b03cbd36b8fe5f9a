// What every locktopusctl end-to-end test uses (ctl_test.cc,
// ctl_lock_test.cc, ctl_inspect_test.cc): a scratch directory per test, and
// locktopusctl started with its output in files there.

#ifndef LOCKTOPUS_TESTS_E2E_CTL_FIXTURE_H_
#define LOCKTOPUS_TESTS_E2E_CTL_FIXTURE_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "locktopus/client.h"
#include "tests/e2e/server_process.h"
#include "wire/pages.h"

extern char** environ;

namespace locktopus::e2e {

// The whole of file `path`; empty if it cannot be read.
inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Waits until file `path` holds `text`; false if it does not within
// `patience`.
inline bool WaitForFile(
    const std::filesystem::path& path, const std::string& text,
    std::chrono::milliseconds patience = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (ReadFile(path).find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// A scratch directory per test.
class CtlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // These tests cover locktopusctl, not the server, and expect fresh
    // namespaces and a server they may stop.
    LOCKTOPUS_NEEDS_OWN_SERVER("tests locktopusctl with fixed namespaces");
    char name[] = "/tmp/locktopusctl-test-XXXXXX";
    ASSERT_NE(mkdtemp(name), nullptr);
    dir_ = name;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Starts locktopusctl with `args`; stdout and stderr go to files.
  pid_t Start(const std::vector<std::string>& args) {
    std::vector<std::string> all = {LOCKTOPUSCTL_BIN};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string n = std::to_string(runs_++);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO,
                                     (dir_ / ("out" + n)).c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO,
                                     (dir_ / ("err" + n)).c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    EXPECT_EQ(
        posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    return pid;
  }
  static int Wait(pid_t pid) {
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
  }
  int Run(const std::vector<std::string>& args) { return Wait(Start(args)); }
  // Wait's code if `pid` exits within `patience`; else kills it, nullopt.
  static std::optional<int> WaitWithin(pid_t pid,
                                       std::chrono::milliseconds patience) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
  }
  std::string Out(int run) {
    return ReadFile(dir_ / ("out" + std::to_string(run)));
  }
  std::string Err(int run) {
    return ReadFile(dir_ / ("err" + std::to_string(run)));
  }

  std::vector<std::string> At(const ServerProcess& server,
                              const std::string& ns = "ns") {
    return AtPort(server.port(), ns);
  }
  // The same for a server reached through `port` (a relay in front of it).
  static std::vector<std::string> AtPort(std::uint16_t port,
                                         const std::string& ns = "ns") {
    return {"--host",      "127.0.0.1", "--port", std::to_string(port),
            "--namespace", ns};
  }
  static std::vector<std::string> Join(std::vector<std::string> a,
                                       const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }
  // The statistics of a /stats_v1 page's text (a failure if it is not one).
  static Stats ReadStats(const std::string& text) {
    auto page = wire::ParseStatsPage(text);
    if (!page.ok()) {
      ADD_FAILURE() << "/stats_v1: " << page.error().message << " in " << text;
      return {};
    }
    return page.value().stats;
  }
  // The statistics of namespace `ns`, from the server's /stats_v1.
  static Stats StatsOf(const ServerProcess& server,
                       const std::string& ns = "ns") {
    return ReadStats(e2e::HttpGet(server, "/stats_v1?namespace=" + ns).body);
  }
  // No lock pending or acquired.
  static bool Idle(const Stats& stats) {
    return stats.locks_pending == 0 && stats.locks_acquired == 0;
  }
  // A connection that keeps namespace `ns` open, so that its statistics
  // outlast the commands' own connections (an idle namespace is freed).
  static client::Client Watch(const ServerProcess& server,
                              const std::string& ns = "ns") {
    return client::Client("127.0.0.1", server.port(), ns);
  }
  std::string File(const std::string& name) { return (dir_ / name).string(); }

  std::filesystem::path dir_;
  int runs_ = 0;
};

}  // namespace locktopus::e2e

#endif  // LOCKTOPUS_TESTS_E2E_CTL_FIXTURE_H_
