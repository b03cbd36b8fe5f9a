// locktopusctl's exit codes, and running a command while a lock is held:
// the child is spawned, signals sent to locktopusctl are passed on to it,
// and the connection is watched while it runs.
//
// Thread safety: RunLocked installs process-wide signal handlers while it
// runs; call it from one thread only.

#ifndef LOCKTOPUS_CLIENT_CTL_RUN_LOCKED_H_
#define LOCKTOPUS_CLIENT_CTL_RUN_LOCKED_H_

#include <string>
#include <vector>

#include "locktopus/client.h"

namespace locktopus::ctl {

// Besides these, `lock` exits with the command's own code, or 128+N when
// the command is killed by signal N.
inline constexpr int kExitHttpError = 1;  // stats/status: server said no
inline constexpr int kExitUsage = 2;      // bad command line
inline constexpr int kExitTimeout = 3;    // --timeout passed; lock cancelled
inline constexpr int kExitServer = 4;     // cannot connect, refused, protocol
                                       // error, or lost before the command ran
inline constexpr int kExitLockLost = 5;  // --kill-on-loss stopped the command
inline constexpr int kExitCannotRun = 126;  // the command cannot be executed
inline constexpr int kExitNotFound = 127;   // the command was not found

// Runs `command` (argv, looked up in PATH) while `lock` is held, with the
// lock's ID (its fencing token) in LOCKTOPUS_LOCK_ID, then releases the
// lock. SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to this
// process are forwarded to the child (a terminal's Ctrl-C reaches the
// child directly, as both are in its foreground process group, and is not
// sent twice). While the child runs the connection is watched; when it is
// lost a line says so on stderr and, with `kill_on_loss`, the child gets
// SIGTERM. Returns the exit code to exit with (see above).
int RunLocked(Client& client, Lock& lock,
              const std::vector<std::string>& command, bool kill_on_loss);

}  // namespace locktopus::ctl

#endif  // LOCKTOPUS_CLIENT_CTL_RUN_LOCKED_H_
