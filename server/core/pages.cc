#include "server/core/pages.h"

#include "server/core/inspect.h"
#include "server/core/log.h"
#include "server/core/process_metrics.h"
#include "util/version.h"

namespace locktopus::server {

std::string MetricsText(const ServerState& state) {
  const LockService& locks = *state.locks;
  ScrapeSample sample{
      .open_connections = state.connections.load(),
      .namespaces_opened = locks.opened(),
      .sessions_live = state.client_sessions->live(),
      .lock_memory_bytes = locks.memory().used(),
      .lock_memory_limit = locks.memory().limit(),
      .roles = ha::kRoleNames,
      .role = ha::Name(state.role.load()),
      .grace_left_nanos = static_cast<std::uint64_t>(
          std::chrono::nanoseconds(GraceLeft(state, ha::Clock::now())).count()),
      .build = {.version = kVersion,
                .compiler = kCompiler,
                .build_type = kBuildType},
      .process = ReadProcessSample()};
  const bool per_namespace = state.metrics.per_namespace;
  const auto now = LockRecord::Clock::now();
  locks.ForEach([&](const Namespace& ns) {
    const Stats s = ns.GetStats();
    const OldestAges ages = AgesOf(ns.Oldest(), now);
    const auto enqueued = static_cast<std::uint64_t>(ages.enqueued.count());
    const auto acquired = static_cast<std::uint64_t>(ages.acquired.count());
    ++sample.namespaces_open;
    sample.locks_pending += s.locks_pending;
    sample.locks_acquired += s.locks_acquired;
    sample.locks_abandoned += ns.abandoned().load(std::memory_order_relaxed);
    sample.oldest_enqueued_nanos =
        std::max(sample.oldest_enqueued_nanos, enqueued);
    sample.oldest_acquired_nanos =
        std::max(sample.oldest_acquired_nanos, acquired);
    if (per_namespace) {
      sample.namespaces.push_back({.name = ns.name(),
                                   .locks_pending = s.locks_pending,
                                   .locks_acquired = s.locks_acquired,
                                   .oldest_enqueued_nanos = enqueued,
                                   .oldest_acquired_nanos = acquired,
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
