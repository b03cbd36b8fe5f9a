#include "client/ctl/run_locked.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

extern char** environ;

namespace locktopus::ctl {
namespace {

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
volatile sig_atomic_t g_child = 0;

void Forward(int signal, siginfo_t* info, void*) {
  // SI_KERNEL: sent by the terminal to the whole foreground process group,
  // so the child has it already.
  if (info != nullptr && info->si_code == SI_KERNEL) return;
  if (g_child > 0) kill(static_cast<pid_t>(g_child), signal);
}

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return kExitCannotRun;
}

}  // namespace

int RunLocked(Client& client, Lock& lock,
              const std::vector<std::string>& command, bool kill_on_loss) {
  std::vector<std::string> args = command;
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // Block the forwarded signals until the handlers know the child; the
  // child starts with them unblocked and at their default action.
  // An inherited SIGCHLD=SIG_IGN would reap the child on its own and leave
  // waitpid nothing to report: the command's exit code would be lost.
  signal(SIGCHLD, SIG_DFL);
  sigset_t forwarded, previous;
  sigemptyset(&forwarded);
  for (int s : kForwarded) sigaddset(&forwarded, s);
  sigprocmask(SIG_BLOCK, &forwarded, &previous);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setsigmask(&attr, &previous);
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
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    std::cerr << "locktopusctl: cannot run " << args[0] << ": "
              << std::strerror(spawn_error) << "\n";
    try {
      lock.release();
    } catch (const std::exception&) {  // the server drops it with us
    }
    return spawn_error == ENOENT ? kExitNotFound : kExitCannotRun;
  }

  g_child = child;
  struct sigaction action {};
  action.sa_sigaction = Forward;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  struct sigaction saved[std::size(kForwarded)];
  for (std::size_t i = 0; i < std::size(kForwarded); ++i) {
    sigaction(kForwarded[i], &action, &saved[i]);
  }
  sigprocmask(SIG_SETMASK, &previous, nullptr);

  bool lost = false;
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(child, &status, lost ? 0 : WNOHANG);
    if (done == child) break;
    if (done < 0 && errno != EINTR) break;
    if (!lost && !client.alive(std::chrono::milliseconds(100))) {
      lost = true;
      std::cerr << "locktopusctl: connection to the server lost while the "
                   "command runs: the lock is no longer guaranteed"
                << (kill_on_loss ? "; stopping the command" : "") << "\n";
      if (kill_on_loss) kill(child, SIGTERM);
    }
  }

  // Released while the forwarded signals are still blocked: one arriving
  // now (systemd stopping the whole group, say) is delivered only after,
  // so it cannot end this process with the lock still held.
  sigprocmask(SIG_BLOCK, &forwarded, nullptr);
  g_child = 0;
  if (!lost) {
    try {
      lock.release();
    } catch (const std::exception& e) {
      std::cerr << "locktopusctl: releasing the lock failed: " << e.what()
                << "\n";
    }
  }
  for (std::size_t i = 0; i < std::size(kForwarded); ++i) {
    sigaction(kForwarded[i], &saved[i], nullptr);
  }
  sigprocmask(SIG_SETMASK, &previous, nullptr);
  if (lost && kill_on_loss) return kExitLockLost;
  return ExitCode(status);
}

}  // namespace locktopus::ctl
