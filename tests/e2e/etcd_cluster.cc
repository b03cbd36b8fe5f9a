#include "tests/e2e/etcd_cluster.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace locktopus::e2e {
namespace json = boost::json;

namespace {

// The harness bounds the start itself (20 s a try, 3 tries on ports taken
// meanwhile); this only catches a harness that hangs.
constexpr auto kClusterStartPatience = std::chrono::seconds(90);
constexpr auto kCommandPatience = std::chrono::seconds(30);
constexpr auto kExitPatience = std::chrono::seconds(10);
constexpr std::size_t kLogTailLines = 40;

std::string Tail(const std::string& text, std::size_t lines) {
  std::size_t pos = text.size();
  for (std::size_t n = 0; n <= lines && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos + 1);
}

json::object ParseObject(const std::string& line) {
  json::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec || !v.is_object()) {
    throw std::runtime_error("the cluster harness answered: " + line);
  }
  return std::move(v.get_object());
}

}  // namespace

std::string EtcdCluster::Binary() {
  const char* bin = std::getenv("LOCKTOPUS_ETCD_BIN");
  return bin != nullptr && *bin != '\0' ? bin : "/usr/bin/etcd";
}

bool EtcdCluster::Available() {
  return access(Binary().c_str(), X_OK) == 0 &&
         access(LOCKTOPUS_NODE, X_OK) == 0;
}

EtcdCluster::EtcdCluster(Options options) {
  // A harness that has died must fail the command, not kill the test.
  signal(SIGPIPE, SIG_IGN);
  // clang-format off
  std::vector<std::string> args = {
      LOCKTOPUS_NODE, LOCKTOPUS_CLUSTER_HARNESS, "etcd", "--control",
      "--members", std::to_string(options.members),
      "--heartbeat-ms", std::to_string(options.heartbeat_ms),
      "--election-timeout-ms", std::to_string(options.election_timeout_ms),
  };
  // clang-format on
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // Close-on-exec, so that servers started later do not hold the harness's
  // stdin open; in the harness, everything above stderr is closed.
  int in[2];
  int out[2];
  if (pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    throw std::runtime_error("pipe2");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  const int rc = posix_spawn(&pid_, args[0].c_str(), &actions, nullptr,
                             argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  to_ = in[1];
  from_ = out[0];
  if (rc != 0) {
    pid_ = -1;
    StopHarness();
    throw std::runtime_error("cannot start " + args[0]);
  }

  try {
    const json::object started = ParseObject(ReadLine(kClusterStartPatience));
    if (const json::value* error = started.if_contains("error")) {
      throw std::runtime_error(json::value_to<std::string>(*error));
    }
    dir_ = json::value_to<std::string>(started.at("dir"));
    for (const json::value& m : started.at("members").as_array()) {
      const json::object& o = m.as_object();
      members_.push_back(
          {.name = json::value_to<std::string>(o.at("name")),
           .client_port = json::value_to<std::uint16_t>(o.at("client")),
           .log = json::value_to<std::string>(o.at("log"))});
    }
  } catch (...) {
    StopHarness();
    throw;
  }
}

EtcdCluster::~EtcdCluster() {
  if (::testing::Test::HasFailure()) {
    for (int m = 0; m < size(); ++m) {
      std::cerr << "---- etcd " << members_[m].name << " (client port "
                << members_[m].client_port << "), last lines ----\n"
                << Tail(Log(m), kLogTailLines);
    }
    std::cerr << "--------------------\n";
  }
  StopHarness();
}

void EtcdCluster::StopHarness() {
  if (to_ >= 0) close(to_);
  to_ = -1;
  if (pid_ > 0) {
    const auto deadline = std::chrono::steady_clock::now() + kExitPatience;
    while (waitpid(pid_, nullptr, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }
  if (from_ >= 0) close(from_);
  from_ = -1;
}

std::string EtcdCluster::ReadLine(std::chrono::milliseconds patience) const {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  std::size_t newline;
  while ((newline = pending_.find('\n')) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{.fd = from_, .events = POLLIN, .revents = 0};
    const int ready = poll(
        &p, 1,
        static_cast<int>(std::max<long>(0, static_cast<long>(left.count()))));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      throw std::runtime_error("the cluster harness did not answer within " +
                               std::to_string(patience.count()) + " ms");
    }
    char buf[4096];
    const ssize_t n = read(from_, buf, sizeof buf);
    if (n <= 0) {
      throw std::runtime_error(
          "the cluster harness exited (its stderr, above, says why)");
    }
    pending_.append(buf, n);
  }
  std::string line = pending_.substr(0, newline);
  pending_.erase(0, newline + 1);
  return line;
}

std::string EtcdCluster::Command(const std::string& line) const {
  const std::string text = line + "\n";
  if (write(to_, text.data(), text.size()) !=
      static_cast<ssize_t>(text.size())) {
    throw std::runtime_error("cannot write to the cluster harness");
  }
  std::string answer = ReadLine(kCommandPatience);
  if (answer.find("\"error\"") != std::string::npos) {
    throw std::runtime_error("the cluster harness answered " + answer + " to " +
                             line);
  }
  return answer;
}

std::uint16_t EtcdCluster::client_port(int member) const {
  return members_.at(member).client_port;
}

std::string EtcdCluster::ClientUrl(int member) const {
  return "http://127.0.0.1:" + std::to_string(client_port(member));
}

std::string EtcdCluster::ClientUrls() const {
  std::string urls;
  for (int m = 0; m < size(); ++m) {
    if (!urls.empty()) urls += ",";
    urls += ClientUrl(m);
  }
  return urls;
}

void EtcdCluster::Kill(int member) {
  if (!running(member)) return;
  Command("kill " + std::to_string(member));
  members_[member].running = false;
}

void EtcdCluster::Pause(int member) {
  if (running(member)) Command("pause " + std::to_string(member));
}

void EtcdCluster::Resume(int member) {
  if (running(member)) Command("resume " + std::to_string(member));
}

void EtcdCluster::Restart(int member) {
  if (running(member)) return;
  Command("restart " + std::to_string(member));
  members_[member].running = true;
}

bool EtcdCluster::running(int member) const {
  return members_.at(member).running;
}

std::optional<int> EtcdCluster::Leader() const {
  const json::object answer = ParseObject(Command("leader"));
  const json::value& leader = answer.at("leader");
  if (!leader.is_int64()) return std::nullopt;
  return static_cast<int>(leader.get_int64());
}

std::optional<int> EtcdCluster::WaitForLeader(
    std::chrono::milliseconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (true) {
    if (auto leader = Leader()) return leader;
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string EtcdCluster::Log(int member) const {
  std::ifstream in(members_.at(member).log);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace locktopus::e2e
