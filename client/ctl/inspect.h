// locktopusctl's lock inspector: what `locktopusctl locks` and
// `locktopusctl why` print from GET /locks_v1's pages (read by
// wire::ParseLocksPage): a table of live locks, and the waits-for graph from
// one waiting lock to the holders at its root; and what `locktopusctl
// namespaces` prints from GET /namespaces_v1's (wire::ParseNamespacesPage).
//
// Everything here is pure, without I/O or a clock, so that the output is
// tested on canned listings: CollectWhy asks for listings through the
// function it is given.
//
// Names and paths come from clients, so they are printed through Printable:
// control characters, backslashes, bytes that are not UTF-8 and the
// characters that reorder or break a terminal's lines are escaped, so that
// no name can forge a line of output or hide another.
//
// Thread safety: pure functions over values.

#ifndef LOCKTOPUS_CLIENT_CTL_INSPECT_H_
#define LOCKTOPUS_CLIENT_CTL_INSPECT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/types.h"
#include "wire/pages.h"

namespace locktopus::ctl {

// `text` safe to print on a terminal: '\' as "\\"; \n, \r, \t and other C0
// controls and DEL as "\n", "\r", "\t", "\xNN"; a byte that is not part of
// valid UTF-8 as "\xNN"; C1 controls, line and paragraph separators and
// the bidirectional controls as "\uNNNN". Everything else (any other
// Unicode) is kept.
std::string Printable(std::string_view text);

// The terminal columns `text` (valid UTF-8, as Printable returns) takes:
// wide East Asian characters and emoji take two, combining marks none,
// everything else one.
std::size_t DisplayWidth(std::string_view text);

// "850ms", "4s", "2m05s", "3h07m", "2d04h": the unit that matters and the
// next, truncated.
std::string HumanDuration(std::uint64_t ms);

// "write a/b" for a resource; its path as locktopusctl writes paths
// (FormatPath), made Printable.
std::string DescribeResource(const Resource& resource);

// The table of `locktopusctl locks`: ID, STATE, RESOURCES (one line per
// resource), CLIENT (the client's name, or its peer address in
// parentheses), FOR ("held 12s", "waiting 4s", "held 12s; abandoned,
// released in 59s"), WAITS FOR (IDs once each, "..." when the server had
// more). Long cells are cut with "…". Then a line with the count listed
// and live, saying how to see the rest when `more`. `path` is the PATH
// asked about, as typed.
std::string RenderLockTable(const wire::LocksPage& listing,
                            const std::optional<std::string>& path);

// The table of `locktopusctl namespaces`: ACQUIRED and ENQUEUED (its
// acquired and enqueued locks, /stats_v1's GroupsAcquired and
// GroupsPending) and NAMESPACE, the busiest first as the server lists them;
// names are Printable and never cut, last so that a long one does not widen the
// others. Then a line with the count listed, open and opened, saying how to
// see the rest when `more`. `filter` is the --filter asked with (empty:
// none). An empty listing is one line saying so.
std::string RenderNamespaceTable(const wire::NamespacesPage& page,
                                 const std::string& filter);

// Bounds on `why`: requests made, locks shown, depth of the graph.
struct WhyLimits {
  std::size_t max_requests = 16;
  std::size_t max_locks = 200;
  std::size_t max_depth = 32;
};

// Gets a listing of the namespace's live locks overlapping `path`
// (nullopt: all of them), as many as the server gives (its limit is the
// caller's choice). May throw; CollectWhy lets it through.
using FetchListing = std::function<wire::LocksPage(
    const std::optional<std::vector<std::string>>& path)>;

// What `why` found: the lock asked about and every lock it reached.
struct WhyGraph {
  std::uint64_t id = 0;
  std::string ns;
  std::uint64_t live = 0;  // live locks in the namespace, as first listed
  std::map<LockId, wire::ListedLock> locks;  // every lock listed
  // The first listing would have held lock `id` had it been live (and
  // overlapping the path): it was not cut, or it reached past `id`.
  bool complete_up_to_id = false;
  bool listing_cut = false;              // some listing had `more`
  bool requests_cut = false;             // max_requests ran out
  std::optional<std::string> path_text;  // the PATH searched, as typed
};

// Finds lock `id` and the locks it waits for, transitively: first in one
// listing of `path` (nullopt: the whole namespace); a lock waited for that
// is missing (listings are cut at their limit) is looked for in the
// listings of the paths of the waiting lock's resources, which it
// overlaps. Makes at most limits.max_requests calls of `fetch`.
WhyGraph CollectWhy(std::uint64_t id,
                    const std::optional<std::vector<std::string>>& path,
                    std::optional<std::string> path_text,
                    const FetchListing& fetch, const WhyLimits& limits = {});

// The output of `locktopusctl why`, like `git log --graph`: the lock, then
// what it waits for, each with "├─"/"└─" under the lock that waits; a lock
// seen before is named with "(above)" rather than expanded again, a cycle
// (which the server should never list) is named as one, and holders are
// marked "<- root". Then the root holders, with their peers and
// connections. An acquired lock waits for nothing; a lock not found is not
// live (or, when listings were cut before its ID, not found, with what to
// try). Depth and size are bounded by `limits`, and a cut says so.
std::string RenderWhy(const WhyGraph& graph, const WhyLimits& limits = {});

}  // namespace locktopus::ctl

#endif  // LOCKTOPUS_CLIENT_CTL_INSPECT_H_
