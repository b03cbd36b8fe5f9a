#include "server/core/pages.h"

#include <boost/json.hpp>

#include "server/core/log.h"

namespace locktopus::server {
namespace {

std::string HtmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string StatsJson(const Stats& s, std::uint64_t memory_bytes) {
  return boost::json::serialize(boost::json::object{
      {"LastGroupID", s.last_id},
      {"GroupsPending", s.locks_pending},
      {"GroupsAcquired", s.locks_acquired},
      {"LocksPending", s.resources_pending},
      {"LocksAcquired", s.resources_acquired},
      {"PathCount", s.path_count},
      {"MemoryBytes", memory_bytes},
  });
}

std::string StatusPage(const ServerState& state) {
  const Config& c = state.config;
  std::string page =
      "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
      "<title>Locktopus</title></head><body>\n<h1>Locktopus</h1>\n"
      "<h2>API</h2>\n<ul>\n"
      "<li>v1 (WebSocket): <code>" +
      std::string(c.tls() ? "wss" : "ws") +
      "://HOST/v1?namespace=NAME"
      "&amp;abandon-timeout-ms=60000</code></li>\n"
      "<li>statistics: <code>/stats_v1?namespace=NAME</code></li>\n"
      "<li>Prometheus metrics: <code>/metrics</code></li>\n"
      "<li>probes: <code>/healthz</code>, <code>/readyz</code></li>\n"
      "</ul>\n<h2>Parameters</h2>\n<ul>\n";
  auto param = [&page](std::string_view name, auto value) {
    page += "<li>" + std::string(name) + ": " + std::to_string(value) +
            "</li>\n";
  };
  param("default abandon timeout (ms)", c.default_abandon_timeout_ms);
  param("max abandon timeout (ms)", c.route_limits.max_abandon_timeout_ms);
  param("max connections", c.max_connections);
  param("keep-alive interval (ms)", c.keepalive_ms);
  param("handshake timeout (ms)", c.handshake_timeout_ms);
  param("max write queue (answers)", c.max_write_queue);
  param("max message bytes", c.message_limits.max_message_bytes);
  param("max resources per lock", c.message_limits.max_resources);
  param("max path depth", c.message_limits.max_path_depth);
  param("max segment bytes", c.message_limits.max_segment_bytes);
  param("max path segments per lock", c.message_limits.max_lock_segments);
  param("max namespace bytes", c.route_limits.max_namespace_bytes);
  param("max lock memory (bytes)", c.max_lock_memory);
  param("lock memory in use (bytes)", state.locks->memory().used());
  param("open connections", state.connections.load());
  if (c.ha()) {
    page += "<li>HA group: <code>" + HtmlEscape(c.ha_group) +
            "</code>, role: " + std::string(ha::Name(state.role.load())) +
            ", lease TTL " + std::to_string(c.ha_ttl_ms) + " ms</li>\n";
  } else if (!c.state_dir.empty()) {
    page += "<li>state dir: <code>" + HtmlEscape(c.state_dir) +
            "</code>, role: " + std::string(ha::Name(state.role.load())) +
            "</li>\n";
  }
  const LockService& locks = *state.locks;
  page += "</ul>\n<h2>Namespaces</h2>\n<ul>\n";
  param("open now", locks.open());
  param("opened since the start", locks.opened());
  page += "</ul>\n<p>The " + std::to_string(kStatusNamespaces) +
          " open namespaces with the most live locks:</p>\n<ul>\n";
  for (const NamespaceSummary& ns : locks.Busiest(kStatusNamespaces)) {
    page += "<li><code>" + HtmlEscape(ns.name) + "</code>: " +
            HtmlEscape(StatsJson(ns.stats, ns.memory_bytes)) + "</li>\n";
  }
  return page + "</ul>\n</body></html>\n";
}

std::string MetricsText(const ServerState& state) {
  const LockService& locks = *state.locks;
  ScrapeSample sample{.open_connections = state.connections.load(),
                      .namespaces_opened = locks.opened(),
                      .lock_memory_bytes = locks.memory().used(),
                      .lock_memory_limit = locks.memory().limit()};
  const bool per_namespace = state.metrics.per_namespace;
  locks.ForEach([&](const Namespace& ns) {
    const Stats s = ns.GetStats();
    ++sample.namespaces_open;
    sample.locks_pending += s.locks_pending;
    sample.locks_acquired += s.locks_acquired;
    if (per_namespace) {
      sample.namespaces.push_back({.name = ns.name(),
                                   .locks_pending = s.locks_pending,
                                   .locks_acquired = s.locks_acquired,
                                   .counts = Read(ns.counters())});
    }
  });
  return RenderPrometheus(state.metrics, sample);
}

void LogNamespaceStats(const LockService& locks) {
  std::vector<std::string> lines;
  locks.ForEach([&lines](const Namespace& ns) {
    const Stats s = ns.GetStats();
    lines.push_back("stats namespace [" + ns.name() + "]: last id " +
                    std::to_string(s.last_id) + ", locks pending " +
                    std::to_string(s.locks_pending) + " acquired " +
                    std::to_string(s.locks_acquired) + ", resources pending " +
                    std::to_string(s.resources_pending) + " acquired " +
                    std::to_string(s.resources_acquired) + ", paths " +
                    std::to_string(s.path_count));
  });
  for (const std::string& line : lines) LogInfo(line);
}

}  // namespace locktopus::server
