#include "bench/syscall_count.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace locktopus::bench {
namespace {

constexpr auto kPatience = std::chrono::seconds(10);
constexpr int kAckTimeoutMs = 10'000;

std::string Errno(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

std::string FirstLines(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  for (std::string line; std::getline(in, line) && text.size() < 300;) {
    if (line.empty()) continue;
    if (!text.empty()) text += "; ";
    text += line;
  }
  return text;
}

}  // namespace

std::unique_ptr<SyscallCount> SyscallCount::Attach(int pid, std::string& why) {
  std::unique_ptr<SyscallCount> count(new SyscallCount);
  std::string dir =
      (std::filesystem::temp_directory_path() / "locktopus-bench-perf.XXXXXX")
          .string();
  if (mkdtemp(dir.data()) == nullptr) {
    why = Errno("cannot make a directory for perf");
    return nullptr;
  }
  count->dir_ = dir;
  const std::string control = dir + "/control";
  const std::string ack = dir + "/ack";
  if (mkfifo(control.c_str(), 0600) != 0 || mkfifo(ack.c_str(), 0600) != 0) {
    why = Errno("cannot make perf's control FIFOs");
    return nullptr;
  }
  count->ack_ = open(ack.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (count->ack_ < 0) {
    why = Errno("cannot open " + ack);
    return nullptr;
  }

  const std::string pid_text = std::to_string(pid);
  const std::string control_arg = "fifo:" + control + "," + ack;
  const std::string out = dir + "/counts";
  std::vector<std::string> args = {
      "perf",    "stat",  "-e",        "raw_syscalls:sys_enter",
      "-x",      ",",     "-o",        out,
      "--delay", "-1",    "--control", control_arg,
      "-p",      pid_text};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, 1, "/dev/null", O_WRONLY, 0);
  const std::string err = dir + "/stderr";
  posix_spawn_file_actions_addopen(&files, 2, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const int spawned = posix_spawnp(&count->perf_, "perf", &files, nullptr,
                                   argv.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  if (spawned != 0) {
    count->perf_ = -1;
    why = std::string("cannot run perf: ") + std::strerror(spawned);
    return nullptr;
  }

  // perf opens the control FIFO once it is set up; until then there is no
  // reader and a non-blocking open for writing fails with ENXIO.
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (count->control_ < 0) {
    count->control_ = open(control.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (count->control_ >= 0) break;
    int status = 0;
    if (waitpid(count->perf_, &status, WNOHANG) == count->perf_) {
      count->perf_ = -1;
      why = "perf stat exited: " + FirstLines(err);
      return nullptr;
    }
    if (errno != ENXIO || std::chrono::steady_clock::now() > deadline) {
      why = Errno("perf did not open its control FIFO");
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return count;
}

SyscallCount::~SyscallCount() {
  Kill();
  if (control_ >= 0) close(control_);
  if (ack_ >= 0) close(ack_);
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

void SyscallCount::Kill() {
  if (perf_ < 0) return;
  kill(perf_, SIGKILL);
  waitpid(perf_, nullptr, 0);
  perf_ = -1;
}

bool SyscallCount::Command(const char* command, std::string& why) {
  const std::string line = std::string(command) + "\n";
  if (write(control_, line.data(), line.size()) !=
      static_cast<ssize_t>(line.size())) {
    why = Errno(std::string("cannot tell perf to ") + command);
    return false;
  }
  // perf answers "ack\n" once the counters are switched.
  std::string answer;
  while (answer.find('\n') == std::string::npos) {
    pollfd p{ack_, POLLIN, 0};
    if (poll(&p, 1, kAckTimeoutMs) <= 0) {
      why = std::string("perf did not acknowledge ") + command;
      return false;
    }
    char buffer[16];
    const ssize_t n = read(ack_, buffer, sizeof buffer);
    if (n <= 0) {
      why = std::string("perf did not acknowledge ") + command;
      return false;
    }
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

bool SyscallCount::Enable(std::string& why) { return Command("enable", why); }

bool SyscallCount::Disable(std::string& why) { return Command("disable", why); }

std::optional<std::uint64_t> SyscallCount::Finish(std::string& why) {
  if (perf_ < 0) {
    why = "perf is not running";
    return std::nullopt;
  }
  kill(perf_, SIGINT);
  waitpid(perf_, nullptr, 0);
  perf_ = -1;
  // CSV: "318021,,raw_syscalls:sys_enter,450697727,100.00,,"; the count is
  // "<not counted>" if the events never ran.
  std::ifstream in(dir_ + "/counts");
  for (std::string line; std::getline(in, line);) {
    if (line.find(",raw_syscalls:sys_enter,") == std::string::npos) continue;
    std::istringstream fields(line);
    std::string value;
    std::getline(fields, value, ',');
    char* end = nullptr;
    const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
    if (!value.empty() && end != nullptr && *end == '\0') return n;
    why = "perf counted nothing: " + line;
    return std::nullopt;
  }
  why = "no count in perf's output: " + FirstLines(dir_ + "/stderr");
  return std::nullopt;
}

}  // namespace locktopus::bench
