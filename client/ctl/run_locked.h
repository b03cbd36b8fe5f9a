// locktopusctl's exit codes, its signals, and running a command while a lock
// is held: the command is spawned as a job of its own, signals sent to
// locktopusctl are passed on to it, and the connection is watched while it
// runs.
//
// The job. The command runs in a process group of its own, and the job is
// that group: the command and every process it starts, unless one leaves the
// group (setsid, as a daemon does). The lock is released only once the whole
// group is gone, so that no process of the job ever runs without it: a
// command that leaves a process behind keeps the lock until that process
// ends too. Signals for the job, and --kill-on-loss's SIGTERM, go to the
// whole group; when they do not end it within the kill grace, the group gets
// SIGKILL. locktopusctl is the subreaper of its descendants
// (PR_SET_CHILD_SUBREAPER), so that the job's orphans are reaped here and
// the group's end is seen at once, even where init reaps late or never (a
// container whose PID 1 is not an init).
//
// The terminal. A job in a group of its own is not the terminal's foreground,
// and would be stopped (SIGTTIN) reading from it. So when locktopusctl is in
// the foreground of its controlling terminal, it hands the foreground to the
// job while it runs, as a shell does, and takes it back after. The
// terminal's signals (Ctrl-C, Ctrl-Z and the like) then reach every process
// of the job straight from the terminal, as they would without locktopusctl,
// and not locktopusctl. When the job is stopped from the terminal (Ctrl-Z),
// locktopusctl stops its own group too, so that the shell sees a stopped job,
// and continues the job when it is continued.
//
// Signals. SIGINT, SIGTERM, SIGHUP and SIGQUIT (the forwarded signals) and
// SIGCHLD never interrupt locktopusctl: BlockSignals() blocks them before any
// thread starts, every thread inherits that mask (the Client's keep-alive
// thread included), and only the main thread takes them, synchronously, in
// TakeSignal() and RunLocked(). So each is dealt with where the lock's state
// is known, and none can end the process with the lock held or vanish on
// another thread. A forwarded signal N that arrives
//   - before the command starts (connecting, waiting for the lock, or
//     acquired): the lock is released, or cancelled if enqueued, and
//     locktopusctl exits 128+N (a Client cannot be interrupted while it
//     connects, so a signal then acts once the connection is made or has
//     failed);
//   - while the command runs: it is passed on to the job's whole group, and
//     asks the job to stop: the kill grace starts (at the first such
//     signal); the exit code is then the command's;
//   - after the command has ended: it is passed on likewise to what is left
//     of the group, if anything; locktopusctl then exits 128+N rather than
//     with the command's code, which would hide that it was asked to stop.
// A lock lost while the job ran outweighs both: exit 5 (kExitLockLost).
//
// Thread safety: call everything here from the main thread, and
// BlockSignals() before anything starts another thread.

#ifndef LOCKTOPUS_CLIENT_CTL_RUN_LOCKED_H_
#define LOCKTOPUS_CLIENT_CTL_RUN_LOCKED_H_

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "locktopus/client.h"

namespace locktopus::ctl {

// Besides these, `lock` exits with the command's own code, or 128+N when
// the command is killed by signal N or signal N comes while there is no
// command to pass it to (see above).
inline constexpr int kExitHttpError = 1;  // stats/status: server said no
inline constexpr int kExitUsage = 2;      // bad command line
inline constexpr int kExitTimeout = 3;    // --timeout passed; lock cancelled
inline constexpr int kExitServer = 4;     // cannot connect, refused, protocol
                                       // error, or lost before the command ran
// The lock was lost while the job ran (stopped with --kill-on-loss, or left
// to finish), whatever the command's code, unless --lost-ok.
inline constexpr int kExitLockLost = 5;
inline constexpr int kExitCannotRun = 126;  // the command cannot be executed
inline constexpr int kExitNotFound = 127;   // the command was not found

// 128+N, the shells' code for signal N.
constexpr int ExitOnSignal(int signal) { return 128 + signal; }

// Blocks the forwarded signals and SIGCHLD in the calling thread and keeps
// the mask they replace for the command. Call it once, from the main
// thread, before anything starts a thread (a Client does, and so does its
// name lookup).
void BlockSignals();

// Takes a pending forwarded signal without waiting: its number, or 0.
int TakeSignal();

// How the job is run and stopped.
struct JobOptions {
  // Stop the job (SIGTERM to its group) when the connection is lost.
  bool kill_on_loss = false;
  // From the first signal that asks the job to stop to SIGKILL.
  std::chrono::milliseconds kill_grace = std::chrono::seconds(5);
  // The lock's abandon timeout, if known (--abandon-timeout, or the URL's).
  // A lost lock's job then gets SIGKILL no later than this after the server
  // was last heard from, whatever the grace: by then the server may give
  // the lock to the next holder.
  std::optional<std::chrono::milliseconds> abandon_timeout;
  // Exit with the command's code even when the lock was lost meanwhile.
  bool lost_ok = false;
  // Called once if the lock is enqueued (not acquired at once), before the
  // wait: to say why it may wait. Null: nothing.
  std::function<void()> on_enqueued;
};

// Waits until `lock` (as Client::lock returned it) is acquired, for at most
// `timeout` if given (a Client's wait cannot be interrupted, so it is taken
// in slices: an acquisition is noticed up to 10 ms late); then runs `command`
// (argv, looked up in PATH) as a job (see above) with the lock's ID (its
// fencing token) in LOCKTOPUS_LOCK_ID, and releases the lock once the job's
// group is gone. Signals are dealt with as above. While the job runs the
// connection is watched: it is lost when it drops or when the server has
// been silent for longer than the client's silence limit (client.h); then a
// line says so on stderr and, with `options.kill_on_loss`, the job is
// stopped. Returns the exit code to exit
// with (see above). Throws Error if the connection fails before the command
// starts.
int RunLocked(client::Client& client, client::Lock& lock,
              std::optional<std::chrono::milliseconds> timeout,
              const std::vector<std::string>& command,
              const JobOptions& options);

}  // namespace locktopus::ctl

#endif  // LOCKTOPUS_CLIENT_CTL_RUN_LOCKED_H_
