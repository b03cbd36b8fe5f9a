// The Locktopus server: listens, serves PROTOCOL.md, and shuts down as
// SEMANTICS.md says (first SIGINT/SIGTERM: stop accepting and wait for live
// locks; second: exit at once).

#ifndef LOCKTOPUS_SERVER_SERVER_H_
#define LOCKTOPUS_SERVER_SERVER_H_

#include "server/options.h"

namespace locktopus::server {

// Runs the server until it shuts down; returns the process exit code: 0
// after a graceful shutdown, 1 after a second signal or a failure to listen.
int RunServer(const Options& options);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_SERVER_H_
