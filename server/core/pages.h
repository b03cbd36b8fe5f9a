// What the server renders from its state for a reader (the status page is
// dashboard.h's, the JSON pages are wire/pages.h's): the Prometheus scrape
// and the statistics log lines. No sockets.
//
// Thread safety: each function reads the state's thread-safe parts; call
// from any thread.

#ifndef LOCKTOPUS_SERVER_CORE_PAGES_H_
#define LOCKTOPUS_SERVER_CORE_PAGES_H_

#include <cstddef>
#include <string>

#include "engine/types.h"
#include "server/core/server_state.h"

namespace locktopus::server {

// Namespaces listed on the status page (dashboard.h), the busiest first.
inline constexpr std::size_t kStatusNamespaces = 20;

// GET /metrics: the text exposition of the metrics and the gauges read now.
std::string MetricsText(const ServerState& state);

// --stats-interval: one log line per open namespace.
void LogNamespaceStats(const LockService& locks);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_PAGES_H_
