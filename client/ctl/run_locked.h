// locktopusctl's exit codes, its signals, and running a command while a lock
// is held: the child is spawned, signals sent to locktopusctl are passed on
// to it, and the connection is watched while it runs.
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
//   - while the command runs: it is passed on to the command;
//   - after the command has ended: the lock is released and locktopusctl
//     exits 128+N rather than with the command's code, which would hide
//     that it was asked to stop.
//
// Thread safety: call everything here from the main thread, and
// BlockSignals() before anything starts another thread.

#ifndef LOCKTOPUS_CLIENT_CTL_RUN_LOCKED_H_
#define LOCKTOPUS_CLIENT_CTL_RUN_LOCKED_H_

#include <chrono>
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
inline constexpr int kExitLockLost = 5;  // --kill-on-loss stopped the command
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

// Waits until `lock` (as Client::lock returned it) is acquired, for at most
// `timeout` if given (a Client's wait cannot be interrupted, so it is taken
// in slices: an acquisition is noticed up to 10 ms late); then runs `command`
// (argv, looked up in PATH) with the lock's ID (its fencing token) in
// LOCKTOPUS_LOCK_ID, and releases the lock. Signals are dealt with as above (a
// terminal's Ctrl-C reaches the command directly, as both are in its foreground
// process group, and is not sent twice). While the command runs the connection
// is watched; when it is lost a line says so on stderr and, with
// `kill_on_loss`, the command gets SIGTERM. Returns the exit code to exit with
// (see above). Throws Error if the connection fails before the command starts.
int RunLocked(client::Client& client, client::Lock& lock,
              std::optional<std::chrono::milliseconds> timeout,
              const std::vector<std::string>& command, bool kill_on_loss);

}  // namespace locktopus::ctl

#endif  // LOCKTOPUS_CLIENT_CTL_RUN_LOCKED_H_
