// The Locktopus server: listens, serves docs/protocol.md, and shuts down as
// docs/semantics.md says (first SIGINT/SIGTERM: stop accepting and wait for
// live locks; second: exit at once). Wires the core (server/core/) to the
// network shell: the listener, the signals and the drain, the token file and
// its reload on SIGHUP, the TLS context, and the statistics log.

#ifndef LOCKTOPUS_SERVER_NET_SERVER_H_
#define LOCKTOPUS_SERVER_NET_SERVER_H_

#include "server/core/config.h"

namespace locktopus::server {

// Runs the server until it shuts down; returns the process exit code: 0
// after a graceful shutdown, 1 after a second signal or a failure to start.
int RunServer(const Config& config);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_NET_SERVER_H_
