#include "client/ctl/run_locked.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>

extern char** environ;

namespace locktopus::ctl {
using client::Client;
using client::ConnectionError;
using client::Lock;

namespace {
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Waiting for the lock, a signal ends the wait at once but an acquisition is
// seen only when the connection is next read (a Client's wait cannot be
// interrupted): this is how late it can be.
constexpr milliseconds kLockPoll(10);
// How often the connection is checked while the command runs.
constexpr milliseconds kWatch(100);

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

sigset_t ForwardedSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : kForwarded) sigaddset(&set, s);
  return set;
}

// The forwarded signals and SIGCHLD, which wakes the watch when the command
// ends.
sigset_t TakenSignals() {
  sigset_t set = ForwardedSignals();
  sigaddset(&set, SIGCHLD);
  return set;
}

// The signal mask locktopusctl started with, which the command gets.
sigset_t g_command_mask;

struct Signal {
  int number = 0;  // 0: none came
  // Sent by the terminal to the whole foreground process group, so a
  // running command has it already.
  bool from_terminal = false;
};

// Takes one of TakenSignals(), waiting up to `patience` for it.
Signal Take(milliseconds patience) {
  const sigset_t set = TakenSignals();
  const timespec wait = {
      .tv_sec = static_cast<std::time_t>(patience.count() / 1000),
      .tv_nsec = static_cast<long>(patience.count() % 1000 * 1'000'000)};
  siginfo_t info{};
  for (;;) {
    const int number = sigtimedwait(&set, &info, &wait);
    if (number > 0) return {number, info.si_code == SI_KERNEL};
    if (errno != EINTR) return {};  // EAGAIN: none within patience
  }
}

// Takes a forwarded signal, waiting up to `patience`; SIGCHLD (from children
// inherited through exec) is dropped.
int TakeForwarded(milliseconds patience) {
  const auto deadline = Clock::now() + patience;
  for (;;) {
    const Signal signal = Take(patience);
    if (signal.number != SIGCHLD) return signal.number;
    patience = std::max(
        milliseconds(0),
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
  }
}

// Releases, or cancels, `lock`. A failure is reported, not thrown: the
// connection is then gone, and the server drops the lock with it.
void Release(Lock& lock) {
  try {
    lock.release();
  } catch (const std::exception& e) {
    std::cerr << "locktopusctl: releasing the lock failed: " << e.what()
              << "\n";
  }
}

// Waits for `lock`. Returns nullopt once it is acquired; otherwise it has
// been released (cancelled) and the exit code is returned: kExitTimeout
// after `timeout`, 128+N on signal N.
std::optional<int> AwaitLock(Client& client, Lock& lock,
                             std::optional<milliseconds> timeout) {
  const auto start = Clock::now();
  for (;;) {
    // Reads the acquisition notice, if it came.
    if (!client.alive()) {
      lock.wait();  // throws the connection's failure while enqueued
      throw ConnectionError(
          "connection to the server lost before the command started");
    }
    if (lock.acquired()) return std::nullopt;
    milliseconds patience = kLockPoll;
    if (timeout) {
      const auto left = *timeout - std::chrono::duration_cast<milliseconds>(
                                       Clock::now() - start);
      if (left <= milliseconds(0)) {
        std::cerr << "locktopusctl: lock not acquired within "
                  << static_cast<double>(timeout->count()) / 1000
                  << " s; cancelled\n";
        Release(lock);
        return kExitTimeout;
      }
      patience = std::min(patience, left);
    }
    if (const int signal = TakeForwarded(patience)) {
      Release(lock);
      return ExitOnSignal(signal);
    }
  }
}

// Reaps `child` into `status` if it has ended. A child that cannot be
// waited for counts as ended, or the watch would never finish.
bool Ended(pid_t child, int* status) {
  const pid_t done = waitpid(child, status, WNOHANG);
  return done == child || (done < 0 && errno != EINTR);
}

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return ExitOnSignal(WTERMSIG(status));
  return kExitCannotRun;
}

}  // namespace

void BlockSignals() {
  // An inherited SIGCHLD=SIG_IGN would reap the child on its own and leave
  // waitpid nothing to report: the command's exit code would be lost.
  signal(SIGCHLD, SIG_DFL);
  const sigset_t set = TakenSignals();
  pthread_sigmask(SIG_BLOCK, &set, &g_command_mask);
}

int TakeSignal() { return TakeForwarded(milliseconds(0)); }

int RunLocked(Client& client, Lock& lock,
              std::optional<std::chrono::milliseconds> timeout,
              const std::vector<std::string>& command, bool kill_on_loss) {
  if (const std::optional<int> stop = AwaitLock(client, lock, timeout)) {
    return *stop;
  }
  // Acquired; a signal from here on reaches the command unless it comes
  // before the spawn.
  if (const int signal = TakeSignal()) {
    Release(lock);
    return ExitOnSignal(signal);
  }

  std::vector<std::string> args = command;
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // The command starts with locktopusctl's own mask and the forwarded
  // signals at their default action.
  const sigset_t forwarded = ForwardedSignals();
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setsigmask(&attr, &g_command_mask);
  posix_spawnattr_setsigdefault(&attr, &forwarded);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  // The command can fence its writes with the lock's ID.
  setenv("LOCKTOPUS_LOCK_ID", std::to_string(lock.fencing_token()).c_str(), 1);
  std::cout.flush();
  pid_t child = 0;
  const int spawn_error =
      posix_spawnp(&child, argv[0], nullptr, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (spawn_error != 0) {
    std::cerr << "locktopusctl: cannot run " << args[0] << ": "
              << std::strerror(spawn_error) << "\n";
    Release(lock);
    if (const int signal = TakeSignal()) return ExitOnSignal(signal);
    return spawn_error == ENOENT ? kExitNotFound : kExitCannotRun;
  }

  bool lost = false;
  int late_signal = 0;  // came after the command had ended
  int status = 0;
  while (!Ended(child, &status)) {
    const Signal signal = Take(kWatch);
    if (signal.number != 0 && signal.number != SIGCHLD) {
      // A command that has ended is reaped rather than sent the signal, which
      // would be lost on it. (One still exiting can lose it, as it would
      // from any sender.)
      if (Ended(child, &status)) {
        late_signal = signal.number;
        break;
      }
      if (!signal.from_terminal) kill(child, signal.number);
    }
    if (!lost && !client.alive()) {
      lost = true;
      std::cerr << "locktopusctl: connection to the server lost while the "
                   "command runs: the lock is no longer guaranteed"
                << (kill_on_loss ? "; stopping the command" : "") << "\n";
      if (kill_on_loss) kill(child, SIGTERM);
    }
  }

  if (!lost) Release(lock);
  if (late_signal == 0) late_signal = TakeSignal();
  if (late_signal != 0) return ExitOnSignal(late_signal);
  if (lost && kill_on_loss) return kExitLockLost;
  return ExitCode(status);
}

}  // namespace locktopus::ctl
