#include "server/core/dashboard.h"

#include <algorithm>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <map>
#include <span>

#include "server/core/pages.h"

namespace locktopus::server {
namespace assets {
// dashboard_assets.cc, written at build time (cmake/embed_assets.cmake).
extern const std::string_view kDashboardHtml;
extern const std::string_view kDashboardCss;
extern const std::string_view kDashboardCss_version;
extern const std::string_view kDashboardJs;
extern const std::string_view kDashboardJs_version;
}  // namespace assets

namespace {

// Every byte but RFC 3986's unreserved ones as %XX: a query value.
std::string UrlEncode(std::string_view text) {
  return boost::urls::encode(text, boost::urls::unreserved_chars);
}

// The href of the page with these parameters (those empty left out),
// escaped for an attribute.
std::string PageLink(std::string_view filter, std::string_view ns,
                     const std::optional<std::string>& token) {
  std::string query;
  auto add = [&query](std::string_view key, std::string_view value) {
    if (value.empty()) return;
    query += query.empty() ? '?' : '&';
    query += std::string(key) + "=" + UrlEncode(value);
  };
  add("namespace", ns);
  add("filter", filter);
  if (token) add("token", *token);
  return HtmlEscape("/" + query);
}

// A path as locktopusctl writes it: segments joined by '/', a '/' or '%'
// inside one as %2F, %25; the empty path as "/".
std::string PathText(const Path& path) {
  if (path.empty()) return "/";
  std::string out;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (i > 0) out += '/';
    for (const char c : path[i]) {
      if (c == '/') {
        out += "%2F";
      } else if (c == '%') {
        out += "%25";
      } else {
        out += c;
      }
    }
  }
  return out;
}

// 850ms, 12s, 3m 5s, 2h 10m: as the script writes it.
std::string Duration(std::uint64_t ms) {
  if (ms < 1000) return std::to_string(ms) + "ms";
  const std::uint64_t s = ms / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) {
    return std::to_string(s / 60) + "m " + std::to_string(s % 60) + "s";
  }
  return std::to_string(s / 3600) + "h " + std::to_string(s / 60 % 60) + "m";
}

// A unit of HumanUnits: its name, its size, and the smallest value written
// in it.
struct Unit {
  std::string_view name;
  std::uint64_t size;
  std::uint64_t from;
};

// Durations in ms: seconds up to 2 min, so that the usual timeouts read as
// they are set (60 s, 90 s, 1 d).
constexpr Unit kDurationUnits[] = {{"d", 86'400'000, 86'400'000},
                                   {"h", 3'600'000, 3'600'000},
                                   {"min", 60'000, 120'000},
                                   {"s", 1000, 1000},
                                   {"ms", 1, 0}};

// Sizes in bytes, in powers of 1024.
constexpr Unit kSizeUnits[] = {
    {"TiB", std::uint64_t{1} << 40, std::uint64_t{1} << 40},
    {"GiB", 1 << 30, 1 << 30},
    {"MiB", 1 << 20, 1 << 20},
    {"KiB", 1 << 10, 1 << 10},
    {"B", 1, 0}};

// `value` in the first of `units` (largest first) it reaches, rounded to two
// decimals, trailing zeros dropped: "1 d", "1.5 s", "250 ms", "32 MiB".
std::string HumanUnits(std::uint64_t value, std::span<const Unit> units) {
  const Unit* unit = &units.back();
  for (const Unit& u : units) {
    if (value >= u.from) {
      unit = &u;
      break;
    }
  }
  std::uint64_t whole = value / unit->size;
  std::uint64_t hundredths =
      (value % unit->size * 100 + unit->size / 2) / unit->size;
  if (hundredths == 100) {
    ++whole;
    hundredths = 0;
  }
  std::string out = std::to_string(whole);
  if (hundredths != 0) {
    out += '.';
    out += static_cast<char>('0' + hundredths / 10);
    if (hundredths % 10 != 0) out += static_cast<char>('0' + hundredths % 10);
  }
  return out + " " + std::string(unit->name);
}

// The order of the locks table, as the page states it under the table's
// count and the script sorts it too: the waiting locks first, the longest
// wait first, then the held ones, the longest held first; ties by ID.
constexpr std::string_view kLocksOrder =
    "The longest waits first, then the longest held.";

bool ListedBefore(const wire::ListedLock& a, const wire::ListedLock& b) {
  const bool a_waits = a.state == LockState::kEnqueued;
  const bool b_waits = b.state == LockState::kEnqueued;
  if (a_waits != b_waits) return a_waits;
  if (a.since_ms != b.since_ms) return a.since_ms > b.since_ms;
  return a.id < b.id;
}

std::string_view StateName(LockState state) {
  switch (state) {
    case LockState::kAcquired:
      return "acquired";
    case LockState::kEnqueued:
      return "enqueued";
    case LockState::kNone:
      break;
  }
  return "none";
}

// `template_text` with each @KEY@ whose KEY is in `slots` replaced.
std::string Fill(std::string_view template_text,
                 const std::map<std::string_view, std::string>& slots) {
  std::string out;
  out.reserve(template_text.size());
  std::size_t at = 0;
  while (at < template_text.size()) {
    const std::size_t open = template_text.find('@', at);
    if (open == std::string_view::npos) break;
    const std::size_t close = template_text.find('@', open + 1);
    if (close == std::string_view::npos) break;
    auto slot = slots.find(template_text.substr(open + 1, close - open - 1));
    if (slot == slots.end()) {
      out += template_text.substr(at, close - at);
      at = close;
      continue;
    }
    out += template_text.substr(at, open - at);
    out += slot->second;
    at = close + 1;
  }
  out += template_text.substr(at);
  return out;
}

std::string ServerSection(const ServerState& state,
                          const DashboardQuery& query) {
  const Config& c = state.config;
  const ha::Role role = state.role.load();
  // "serving", or in its grace "grace: N s left", as /readyz says it.
  const std::string serving = ServingText(state, ha::Clock::now());
  const std::string role_text =
      role == ha::Role::kGrace ? serving : std::string(ha::Name(role));
  std::string html = "<h2>Server</h2>\n";
  if (state.draining.load()) {
    html +=
        "<p id=\"health\" class=\"health bad\">draining: new clients "
        "are refused</p>\n";
  } else if (!ha::TakesClients(role)) {
    html += "<p id=\"health\" class=\"health bad\">not taking clients (" +
            std::string(ha::Name(role)) + ")</p>\n";
  } else {
    html += "<p id=\"health\" class=\"health ok\">" + serving + "</p>\n";
  }
  html += "<table class=\"params\">\n";
  auto row = [&html](std::string_view name, const std::string& value) {
    html +=
        "<tr><th>" + std::string(name) + "</th><td>" + value + "</td></tr>\n";
  };
  auto number = [&row](std::string_view name, auto value) {
    row(name, std::to_string(value));
  };
  // In human units, the exact value in the cell's tooltip.
  auto human = [&html](std::string_view name, std::uint64_t value,
                       std::span<const Unit> units, std::string_view raw_unit) {
    html += "<tr><th>" + std::string(name) + "</th><td title=\"" +
            std::to_string(value) + " " + std::string(raw_unit) + "\">" +
            HumanUnits(value, units) + "</td></tr>\n";
  };
  auto duration = [&human](std::string_view name, std::uint64_t ms) {
    human(name, ms, kDurationUnits, "ms");
  };
  auto size = [&human](std::string_view name, std::uint64_t bytes) {
    human(name, bytes, kSizeUnits, "bytes");
  };
  row("listen", "<code>" + HtmlEscape(c.host) + ":" +
                    (c.port == 0 ? std::string("any free port")
                                 : std::to_string(c.port)) +
                    "</code>" + (c.tls() ? " (TLS)" : "") +
                    (state.auth != nullptr ? ", tokens required" : ""));
  if (c.ha()) {
    row("HA", "group <code>" + HtmlEscape(c.ha_group) + "</code>, role " +
                  role_text + ", lease TTL " + std::to_string(c.ha_ttl_ms) +
                  " ms");
  } else if (!c.state_dir.empty()) {
    row("state dir",
        "<code>" + HtmlEscape(c.state_dir) + "</code>, role " + role_text);
  }
  number("open connections", state.connections.load());
  // The parameters and limits, folded: an operator comes for the locks.
  html +=
      "</table>\n<details id=\"config\" class=\"config\"><summary>"
      "Configuration</summary>\n<table class=\"params\">\n";
  number("max connections", c.max_connections);
  duration("default abandon timeout", c.default_abandon_timeout_ms);
  duration("max abandon timeout", c.route_limits.max_abandon_timeout_ms);
  duration("keep-alive interval", c.keepalive_ms);
  duration("handshake timeout", c.handshake_timeout_ms);
  number("max write queue (answers)", c.max_write_queue);
  size("max message bytes", c.message_limits.max_message_bytes);
  number("max resources per lock", c.message_limits.max_resources);
  number("max path depth", c.message_limits.max_path_depth);
  size("max segment bytes", c.message_limits.max_segment_bytes);
  number("max path segments per lock", c.message_limits.max_lock_segments);
  size("max namespace bytes", c.route_limits.max_namespace_bytes);
  size("lock memory in use", state.locks->memory().used());
  size("max lock memory", c.max_lock_memory);
  html += "</table></details>\n";
  const std::string suffix =
      query.token ? "?token=" + HtmlEscape(UrlEncode(*query.token)) : "";
  html +=
      "<details class=\"api\"><summary>API</summary><ul>\n"
      "<li>v1 (WebSocket): <code>" +
      std::string(c.tls() ? "wss" : "ws") +
      "://HOST/v1?namespace=NAME&amp;abandon-timeout-ms=60000"
      "&amp;client=NAME</code></li>\n"
      "<li>statistics: <code>/stats_v1?namespace=NAME</code></li>\n"
      "<li>namespaces: <code>/namespaces_v1?filter=TEXT&amp;limit=20"
      "</code></li>\n"
      "<li>live locks: <code>/locks_v1?namespace=NAME</code></li>\n"
      "<li>Prometheus metrics: <a href=\"/metrics" +
      suffix +
      "\"><code>/metrics</code></a></li>\n"
      "<li>probes: <code>/healthz</code>, <code>/readyz</code></li>\n"
      "</ul></details>\n";
  return html;
}

std::string NamespacesSection(const ServerState& state,
                              const DashboardQuery& query) {
  const LockService& locks = *state.locks;
  const NamespaceList list =
      BusiestMatching(locks, query.filter, kStatusNamespaces);
  std::string html = "<h2>Namespaces</h2>\n<p id=\"namespaces-counts\">" +
                     std::to_string(list.open) + " open now, " +
                     std::to_string(list.opened) +
                     " opened since the start.</p>\n";
  html +=
      "<form class=\"filter\" method=\"get\" action=\"/\">"
      "<label>Name contains <input type=\"search\" name=\"filter\" "
      "id=\"filter\" value=\"" +
      HtmlEscape(query.filter) + "\"></label>";
  if (!query.ns.empty()) {
    html += "<input type=\"hidden\" name=\"namespace\" value=\"" +
            HtmlEscape(query.ns) + "\">";
  }
  if (query.token) {
    html += "<input type=\"hidden\" name=\"token\" value=\"" +
            HtmlEscape(*query.token) + "\">";
  }
  html += " <button type=\"submit\">Filter</button></form>\n";
  html +=
      "<table id=\"namespaces-table\" class=\"namespaces\"><thead><tr>"
      "<th>namespace</th><th>acquired</th><th>enqueued</th></tr></thead>"
      "<tbody>\n";
  for (const NamespaceSummary& ns : list.busiest) {
    html += "<tr" +
            std::string(ns.name == query.ns ? " class=\"chosen\"" : "") +
            "><td><a href=\"" + PageLink(query.filter, ns.name, query.token) +
            "\"><code>" + HtmlEscape(ns.name) + "</code></a></td><td>" +
            std::to_string(ns.stats.locks_acquired) + "</td><td>" +
            std::to_string(ns.stats.locks_pending) + "</td></tr>\n";
  }
  html += "</tbody></table>\n<p id=\"namespaces-note\" class=\"note\">";
  if (list.matching == 0) {
    html += query.filter.empty() ? "No namespace is open."
                                 : "No open namespace matches.";
  } else if (list.more()) {
    html += "The " + std::to_string(list.busiest.size()) + " busiest of " +
            std::to_string(list.matching) + " matching.";
  }
  return html + "</p>\n";
}

std::string LocksSection(const ServerState& state,
                         const DashboardQuery& query) {
  if (query.ns.empty()) {
    return "<p class=\"note\">Choose a namespace to see its locks.</p>\n";
  }
  std::string html = "<h2>Locks of <code>" + HtmlEscape(query.ns) +
                     "</code></h2>\n<div id=\"locks-body\">";
  const std::optional<wire::LocksPage> page =
      InspectLocks(*state.locks, query.ns,
                   InspectQuery{.path = {},
                                .limit = kDashboardLocks,
                                .max_blockers = InspectQuery{}.max_blockers});
  if (page) {
    html += RenderLocksHtml(*page);
  } else {
    html +=
        "<p id=\"locks-note\" class=\"note\">Namespace not open: no "
        "live lock and no client.</p>\n";
  }
  // The graph under the table: the table, the longest waits first, is what
  // must fit on the screen.
  return html + "</div>\n<div id=\"graph\" class=\"graph\"></div>\n";
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

NamespaceList BusiestMatching(const LockService& locks, std::string_view filter,
                              std::size_t limit) {
  NamespaceList list;
  list.busiest = locks.Busiest(limit, filter, &list.matching);
  list.open = locks.open();
  list.opened = locks.opened();
  return list;
}

wire::NamespacesPage ToNamespacesPage(const NamespaceList& list) {
  wire::NamespacesPage page{
      .open = list.open, .opened = list.opened, .more = list.more()};
  page.namespaces.reserve(list.busiest.size());
  for (const NamespaceSummary& ns : list.busiest) {
    page.namespaces.push_back({.name = ns.name,
                               .locks_acquired = ns.stats.locks_acquired,
                               .locks_pending = ns.stats.locks_pending});
  }
  return page;
}

std::string RenderLocksHtml(const wire::LocksPage& page) {
  std::string html =
      "<p id=\"locks-note\" class=\"note\">" + std::to_string(page.live) +
      " live; " + std::to_string(page.locks.size()) + " listed" +
      (page.more ? ", more not shown" : "") + "." +
      (page.locks.empty() ? "" : " " + std::string(kLocksOrder)) + "</p>\n";
  html +=
      "<table id=\"locks-table\" class=\"locks\"><thead><tr><th>id</th>"
      "<th>state</th><th>resources</th><th>client</th><th>connection</th>"
      "<th>peer</th><th>for</th><th>waits for</th></tr></thead><tbody>\n";
  std::vector<const wire::ListedLock*> sorted;
  sorted.reserve(page.locks.size());
  for (const wire::ListedLock& lock : page.locks) sorted.push_back(&lock);
  std::sort(sorted.begin(), sorted.end(),
            [](const wire::ListedLock* a, const wire::ListedLock* b) {
              return ListedBefore(*a, *b);
            });
  for (const wire::ListedLock* listed : sorted) {
    const wire::ListedLock& lock = *listed;
    const std::string id = std::to_string(lock.id);
    const std::string_view state = StateName(lock.state);
    html += "<tr data-id=\"" + id + "\" class=\"" + std::string(state) +
            (lock.abandoned() ? " abandoned" : "") +
            (lock.detached ? " detached" : "") + "\"><td class=\"id\">" + id +
            "</td><td class=\"state\">" + std::string(state) +
            "</td><td class=\"resources\">";
    for (std::size_t i = 0; i < lock.resources.size(); ++i) {
      const Resource& r = lock.resources[i];
      if (i > 0) html += "<br>";
      html += std::string(r.access == Access::kWrite ? "write " : "read ") +
              HtmlEscape(PathText(r.path));
    }
    html += "</td><td class=\"client\">";
    if (lock.client_name) html += HtmlEscape(*lock.client_name);
    html += "</td><td class=\"conn\">";
    if (lock.connection) html += std::to_string(*lock.connection);
    html += "</td><td class=\"peer\">";
    if (lock.peer) html += HtmlEscape(*lock.peer);
    html +=
        "</td><td class=\"since\">" +
        std::string(lock.state == LockState::kAcquired ? "held " : "waiting ") +
        Duration(lock.since_ms);
    if (lock.release_in_ms) {
      html += (lock.detached ? "; session detached, ends in "
                             : "; abandoned, released in ") +
              Duration(*lock.release_in_ms) +
              (lock.detached ? " unless resumed" : "");
    }
    html += "</td><td class=\"waits\">";
    for (std::size_t i = 0; i < lock.waits_for.size(); ++i) {
      if (i > 0) html += ' ';
      html += std::to_string(lock.waits_for[i]);
    }
    if (lock.waits_for_more) html += " &hellip;";
    html += "</td></tr>\n";
  }
  return html + "</tbody></table>\n";
}

std::string DashboardPage(const ServerState& state,
                          const DashboardQuery& query) {
  return Fill(assets::kDashboardHtml,
              {{"CSS_VERSION", std::string(assets::kDashboardCss_version)},
               {"JS_VERSION", std::string(assets::kDashboardJs_version)},
               {"SERVER", ServerSection(state, query)},
               {"NAMESPACES", NamespacesSection(state, query)},
               {"LOCKS", LocksSection(state, query)},
               {"NAMESPACE", HtmlEscape(query.ns)}});
}

std::optional<Asset> FindAsset(std::string_view path) {
  if (path == "/dashboard.css") {
    return Asset{"text/css; charset=utf-8", assets::kDashboardCss};
  }
  if (path == "/dashboard.js") {
    return Asset{"text/javascript; charset=utf-8", assets::kDashboardJs};
  }
  return std::nullopt;
}

}  // namespace locktopus::server
