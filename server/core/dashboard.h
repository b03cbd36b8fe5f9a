// The dashboard at GET /: the busiest namespaces (bounded, filtered), one
// namespace's live locks, the longest waits first, and the server's health
// with its parameters folded below them (in units: 60 s, 1 GiB), rendered
// on the server as plain HTML that needs no script; the script
// (core/dashboard/dashboard.js, compiled in) then keeps it live by polling
// /namespaces_v1 and /locks_v1, and draws the waits-for graph. No sockets.
//
// Everything that comes from clients (namespace names, client names, paths)
// is escaped. The page stays small whatever the number of namespaces.
//
// Thread safety: each function reads the state's thread-safe parts; call
// from any thread.

#ifndef LOCKTOPUS_SERVER_CORE_DASHBOARD_H_
#define LOCKTOPUS_SERVER_CORE_DASHBOARD_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/core/inspect.h"
#include "server/core/lock_service.h"
#include "server/core/server_state.h"
#include "wire/pages.h"

namespace locktopus::server {

// Locks the page lists for a namespace without the script (the script asks
// for up to kMaxLocksLimit).
inline constexpr std::size_t kDashboardLocks = 200;

// What the page was asked for: GET /?filter=…&namespace=…&token=….
struct DashboardQuery {
  std::string filter;  // "": every namespace
  std::string ns;      // "": none chosen
  // The token the page was opened with as ?token=, carried on by its links
  // and its form (the script sends it as a header instead).
  std::optional<std::string> token;
};

// The open namespaces whose name contains a filter, the busiest first.
struct NamespaceList {
  std::size_t open = 0;      // open namespaces, matching or not
  std::uint64_t opened = 0;  // opened since the start (LockService::opened)
  std::size_t matching = 0;  // of which match
  std::vector<NamespaceSummary> busiest;  // at most the limit asked for
  bool more() const { return matching > busiest.size(); }
};

// The `limit` busiest open namespaces whose name contains `filter` (all if
// it is empty), busiest first (ties by name), as LockService::Busiest.
NamespaceList BusiestMatching(const LockService& locks, std::string_view filter,
                              std::size_t limit);

// What GET /namespaces_v1 lists of `list` (wire/pages.h).
wire::NamespacesPage ToNamespacesPage(const NamespaceList& list);

// The locks table of a namespace (its <table> and a note with the count and
// the order), as the script renders it too: one row per lock, its cells
// escaped, the waiting locks first, the longest wait first, then the held
// ones, the longest held first.
std::string RenderLocksHtml(const wire::LocksPage& page);

// GET /: the whole page.
std::string DashboardPage(const ServerState& state,
                          const DashboardQuery& query);

// A static asset of the dashboard, by its path (/dashboard.css,
// /dashboard.js); nullopt for any other path.
struct Asset {
  std::string_view content_type;
  std::string_view body;
};
std::optional<Asset> FindAsset(std::string_view path);

// "&", "<", ">", '"' and "'" as entities.
std::string HtmlEscape(std::string_view text);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_DASHBOARD_H_
