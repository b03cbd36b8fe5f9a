// What `locktopusctl status` prints: whether the server takes clients (its
// /readyz) and what it holds now (the server-wide series of its /metrics),
// as lines for a person or one JSON object for a program.
//
// The server has no page of its own for this: its status page, GET /, is
// the dashboard's HTML, and its parameters (limits, TLS, HA group) are
// shown there only. Everything here is pure, without I/O, so that the
// output is tested on canned answers.
//
// Thread safety: pure functions over values.

#ifndef LOCKTOPUS_CLIENT_CTL_STATUS_H_
#define LOCKTOPUS_CLIENT_CTL_STATUS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace locktopus::ctl {

struct ServerStatus {
  std::string server;  // "HOST:PORT", as locktopusctl reached it
  bool tls = false;
  // /readyz: 200 while the server takes clients, with "serving" or, in the
  // grace after a takeover, "grace: N s left"; else 503 with "draining"
  // (shutting down) or its HA role ("standby", "fenced", "resigned").
  // `state` holds the text.
  bool ready = false;
  std::string state;
  // From /metrics.
  std::uint64_t connections_open = 0;
  std::uint64_t namespaces_open = 0;
  std::uint64_t namespaces_opened = 0;  // since the server started
  std::uint64_t locks_acquired = 0;
  std::uint64_t locks_pending = 0;
  std::uint64_t oldest_enqueued_ms = 0;  // the longest wait now; 0: none
  std::uint64_t oldest_acquired_ms = 0;  // the longest hold now; 0: none
  std::uint64_t lock_memory_bytes = 0;
  std::uint64_t lock_memory_limit_bytes = 0;  // --max-lock-memory
  bool operator==(const ServerStatus&) const = default;
};

// Sets the /metrics fields of `status` from the Prometheus text exposition
// `text`: locktopus_connections_open, locktopus_namespaces,
// locktopus_namespaces_opened_total, locktopus_acquired_locks,
// locktopus_pending_locks, locktopus_oldest_enqueued_lock_seconds,
// locktopus_oldest_acquired_lock_seconds, locktopus_lock_memory_bytes and
// locktopus_lock_memory_limit_bytes (unlabelled samples; other lines are
// ignored). An Error (kInvalidArgument) names a series that is missing or
// whose value cannot be read.
Status ReadMetrics(std::string_view text, ServerStatus* status);

// "Server:", "State:", "Connections:", "Namespaces:", "Locks:" and
// "Lock memory:" lines, values aligned.
std::string RenderStatus(const ServerStatus& status);

// One line of JSON: {"server":…,"tls":…,"ready":…,"state":…,
// "connections_open":…,"namespaces_open":…,"namespaces_opened":…,
// "locks_acquired":…,"locks_pending":…,"oldest_enqueued_lock_ms":…,
// "oldest_acquired_lock_ms":…,"lock_memory_bytes":…,
// "lock_memory_limit_bytes":…}, keys in this order.
std::string StatusJson(const ServerStatus& status);

}  // namespace locktopus::ctl

#endif  // LOCKTOPUS_CLIENT_CTL_STATUS_H_
