#include "client/ctl/run_locked.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
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

// The forwarded signals and SIGCHLD, which wakes the watch when a process of
// the job ends (the command, or an orphan of the job reparented here).
sigset_t TakenSignals() {
  sigset_t set = ForwardedSignals();
  sigaddset(&set, SIGCHLD);
  return set;
}

// The signal mask locktopusctl started with, which the command gets.
sigset_t g_command_mask;

// Takes one of TakenSignals(), waiting up to `patience` for it: its number,
// or 0 if none came.
int Take(milliseconds patience) {
  const sigset_t set = TakenSignals();
  patience = std::max(patience, milliseconds(0));
  const timespec wait = {
      .tv_sec = static_cast<std::time_t>(patience.count() / 1000),
      .tv_nsec = static_cast<long>(patience.count() % 1000 * 1'000'000)};
  for (;;) {
    const int number = sigtimedwait(&set, nullptr, &wait);
    if (number > 0) return number;
    if (errno != EINTR) return 0;  // EAGAIN: none within patience
  }
}

// Takes a forwarded signal, waiting up to `patience`; SIGCHLD (from children
// inherited through exec) is dropped.
int TakeForwarded(milliseconds patience) {
  const auto deadline = Clock::now() + patience;
  for (;;) {
    const int signal = Take(patience);
    if (signal != SIGCHLD) return signal;
    patience =
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
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
// after `timeout`, 128+N on signal N. `on_enqueued`, if set, runs first if
// the lock was not acquired at once.
std::optional<int> AwaitLock(Client& client, Lock& lock,
                             std::optional<milliseconds> timeout,
                             const std::function<void()>& on_enqueued) {
  const auto start = Clock::now();
  if (on_enqueued && !lock.acquired_at_once()) on_enqueued();
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

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return ExitOnSignal(WTERMSIG(status));
  return kExitCannotRun;
}

// Whether process group `group` still has a process. kill(-group, 0) fails
// with ESRCH once the last one is gone; EPERM means one lives that may not
// be signalled (it changed its user), and so still counts. A zombie counts
// until it is reaped, which is why locktopusctl is the job's subreaper.
bool GroupLives(pid_t group) { return kill(-group, 0) == 0 || errno != ESRCH; }

// The terminal locktopusctl hands to the job (see run_locked.h).
class Terminal {
 public:
  // The controlling terminal, if locktopusctl's group is its foreground.
  Terminal() {
    fd_ = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd_ >= 0 && tcgetpgrp(fd_) != getpgrp()) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~Terminal() {
    if (fd_ >= 0) close(fd_);
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  // Whether there is one to hand over: only then are the job's stops
  // watched.
  bool owned() const { return fd_ >= 0; }

  // Makes `job` the foreground, if locktopusctl's group is. A job that read
  // the terminal before this was stopped for it (SIGTTIN) and is continued;
  // the SIGCONT discards a stop still pending.
  void GiveTo(pid_t job) {
    if (fd_ < 0 || tcgetpgrp(fd_) != getpgrp()) return;
    tcsetpgrp(fd_, job);
    kill(-job, SIGCONT);
  }

  // Takes the foreground back from `job`, if the job has it. (From the
  // background this would stop locktopusctl, but BlockSignals() blocks
  // SIGTTOU.)
  void TakeFrom(pid_t job) {
    if (fd_ >= 0 && tcgetpgrp(fd_) == job) tcsetpgrp(fd_, getpgrp());
  }

  // The command was stopped by `signal`. A stop from the terminal stops
  // locktopusctl's group as it would have without the job's own group, so
  // that the shell sees its job stopped; once continued (fg or bg), the job
  // is continued too, in the foreground if locktopusctl is. A read or write
  // stop while the job has the terminal came before it was handed over, and
  // only needs the job continued. Other stops (SIGSTOP) are the sender's
  // business.
  void Stopped(pid_t job, int signal) {
    if (signal != SIGTSTP && signal != SIGTTIN && signal != SIGTTOU) return;
    if (signal != SIGTSTP && tcgetpgrp(fd_) == job) {
      kill(-job, SIGCONT);
      return;
    }
    TakeFrom(job);
    // Stops here, unless the group is orphaned (the kernel then drops the
    // signal, as it drops a terminal's Ctrl-Z): the job goes on at once.
    kill(0, SIGTSTP);
    GiveTo(job);
    kill(-job, SIGCONT);
  }

 private:
  int fd_ = -1;
};

// Spawns `argv` as a job: in a process group of its own, with locktopusctl's
// original signal mask and the forwarded signals at their default action.
// Returns 0 with its PID (also its group's ID) in `child`, or the error.
int Spawn(std::vector<char*>& argv, pid_t* child) {
  const sigset_t forwarded = ForwardedSignals();
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setsigmask(&attr, &g_command_mask);
  posix_spawnattr_setsigdefault(&attr, &forwarded);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
  const int error =
      posix_spawnp(child, argv[0], nullptr, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  return error;
}

}  // namespace

void BlockSignals() {
  // An inherited SIGCHLD=SIG_IGN would reap the child on its own and leave
  // waitpid nothing to report: the command's exit code would be lost.
  signal(SIGCHLD, SIG_DFL);
  sigset_t set = TakenSignals();
  // Never taken, only blocked: handing the terminal back from the
  // background, or writing to it there, must not stop locktopusctl.
  sigaddset(&set, SIGTTOU);
  pthread_sigmask(SIG_BLOCK, &set, &g_command_mask);
}

int TakeSignal() { return TakeForwarded(milliseconds(0)); }

int RunLocked(Client& client, Lock& lock,
              std::optional<std::chrono::milliseconds> timeout,
              const std::vector<std::string>& command,
              const JobOptions& options) {
  if (const std::optional<int> stop =
          AwaitLock(client, lock, timeout, options.on_enqueued)) {
    return *stop;
  }
  // Acquired; a signal from here on reaches the job unless it comes before
  // the spawn.
  if (const int signal = TakeSignal()) {
    Release(lock);
    return ExitOnSignal(signal);
  }

  std::vector<std::string> args = command;
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // Orphans of the job are reparented here, and reaped below. Without it
  // (an old kernel) init reaps them, later.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  // The command can fence its writes with the lock's ID.
  setenv("LOCKTOPUS_LOCK_ID", std::to_string(lock.fencing_token()).c_str(), 1);
  std::cout.flush();
  Terminal terminal;
  pid_t job = 0;  // the command, and its group
  if (const int error = Spawn(argv, &job)) {
    std::cerr << "locktopusctl: cannot run " << args[0] << ": "
              << std::strerror(error) << "\n";
    Release(lock);
    if (const int signal = TakeSignal()) return ExitOnSignal(signal);
    return error == ENOENT ? kExitNotFound : kExitCannotRun;
  }
  terminal.GiveTo(job);

  bool ended = false;  // the command has ended; its group may not have
  int status = 0;
  bool lost = false;
  int late_signal = 0;                       // came after the command had ended
  std::optional<Clock::time_point> asked;    // to stop, first
  std::optional<Clock::time_point> kill_at;  // SIGKILL then
  bool killed = false;
  // Asks the job to stop with `signal`, and starts the grace.
  const auto stop = [&](int signal) {
    kill(-job, signal);
    if (!asked) {
      asked = Clock::now();
      kill_at = *asked + options.kill_grace;
    }
  };
  // Reaps every child that has ended: the command, and any process of the
  // job orphaned here. A command that cannot be waited for counts as ended,
  // or the watch would never finish.
  const auto reap = [&] {
    const int flags = WNOHANG | (terminal.owned() ? WUNTRACED : 0);
    for (;;) {
      int child_status = 0;
      const pid_t pid = waitpid(-1, &child_status, flags);
      if (pid < 0 && errno == EINTR) continue;
      if (pid < 0 && errno == ECHILD) ended = true;
      if (pid <= 0) return;
      if (pid != job) continue;
      if (WIFSTOPPED(child_status)) {
        terminal.Stopped(job, WSTOPSIG(child_status));
      } else {
        ended = true;
        status = child_status;
      }
    }
  };

  for (;;) {
    reap();
    if (ended && !GroupLives(job)) break;
    milliseconds patience = kWatch;
    if (kill_at && !killed) {
      patience = std::min(
          patience, std::chrono::ceil<milliseconds>(*kill_at - Clock::now()));
    }
    const int signal = Take(patience);
    if (signal != 0 && signal != SIGCHLD) {
      // A command that has ended is reaped first, so that a signal it never
      // saw is not taken for one it answered. (One still exiting can lose
      // it, as it would from any sender.)
      reap();
      if (ended && late_signal == 0) late_signal = signal;
      stop(signal);
    }
    if (!lost && !client.alive()) {
      lost = true;
      const auto silence = Clock::now() - client.last_heard();
      std::cerr << "locktopusctl: connection to the server lost while the "
                   "command runs ("
                << (silence > client.silence_limit()
                        ? "the server has been silent for " +
                              std::to_string(
                                  std::chrono::duration_cast<milliseconds>(
                                      silence)
                                      .count()) +
                              " ms"
                        : std::string("dropped"))
                << "): the lock is no longer guaranteed"
                << (options.kill_on_loss ? "; stopping the command" : "")
                << "\n";
      if (options.kill_on_loss) {
        stop(SIGTERM);
        if (options.abandon_timeout) {
          kill_at = std::min(*kill_at,
                             client.last_heard() + *options.abandon_timeout);
        }
      }
    }
    if (kill_at && Clock::now() >= *kill_at && GroupLives(job)) {
      if (!killed) {
        std::cerr << "locktopusctl: processes of the command still run "
                  << std::chrono::duration_cast<milliseconds>(Clock::now() -
                                                              *asked)
                         .count()
                  << " ms after they were asked to stop: SIGKILL\n";
        killed = true;
      }
      // Again each round: nothing of the group may outlive the lock, not
      // even a process forked as the first SIGKILL went out.
      kill(-job, SIGKILL);
    }
  }
  terminal.TakeFrom(job);

  if (!lost) Release(lock);
  if (late_signal == 0) late_signal = TakeSignal();
  if (lost && !options.lost_ok) return kExitLockLost;
  if (late_signal != 0) return ExitOnSignal(late_signal);
  return ExitCode(status);
}

}  // namespace locktopus::ctl
