// The server's metrics: counters, histograms, and their rendering in
// Prometheus's text exposition format (version 0.0.4) for GET /metrics.
// No sockets and no engine: the connection state machine counts its events
// here, and the scrape passes in what it reads from the namespaces (gauges
// are read at scrape time, never tracked).
//
// Thread safety: every counter and bucket is a std::atomic updated with
// relaxed order, from any thread. A scrape reads each atomic once; series
// updated meanwhile may be one event apart, but within one histogram the
// +Inf bucket always equals _count (both are the sum of the same bucket
// reads).

#ifndef LOCKTOPUS_SERVER_CORE_METRICS_H_
#define LOCKTOPUS_SERVER_CORE_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wire/codec.h"

namespace locktopus::server {

using Counter = std::atomic<std::uint64_t>;

inline void Increment(Counter& counter) {
  counter.fetch_add(1, std::memory_order_relaxed);
}

// What happened to locks, as their connections saw it. Every lock requested
// ends as exactly one of: cancelled (released or dropped while enqueued), or
// acquired and then released (by its client) or abandoned (its connection
// ended while it was acquired). LockCounters are the live atomic counters;
// LockCounts the same read once.
template <class T>
struct BasicLockCounters {
  T requested{};
  T acquired{};
  T released{};
  T cancelled{};
  T abandoned{};
};
using LockCounters = BasicLockCounters<Counter>;
using LockCounts = BasicLockCounters<std::uint64_t>;

LockCounts Read(const LockCounters& counters);

// Durations in fixed buckets, from 100 µs to 60 s, plus +Inf.
class Histogram {
 public:
  // Upper bounds in nanoseconds, and as rendered in `le`.
  static constexpr std::size_t kBounds = 18;
  static constexpr std::array<std::int64_t, kBounds> kBoundNanos = {
      100'000,        250'000,       500'000,       1'000'000,
      2'500'000,      5'000'000,     10'000'000,    25'000'000,
      50'000'000,     100'000'000,   250'000'000,   500'000'000,
      1'000'000'000,  2'500'000'000, 5'000'000'000, 10'000'000'000,
      30'000'000'000, 60'000'000'000};
  static constexpr std::array<std::string_view, kBounds> kBoundText = {
      "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
      "0.01",   "0.025",   "0.05",   "0.1",   "0.25",   "0.5",
      "1",      "2.5",     "5",      "10",    "30",     "60"};

  // Counts one duration (negative ones as 0).
  void Observe(std::chrono::nanoseconds duration);

  struct Snapshot {
    std::array<std::uint64_t, kBounds + 1> cumulative{};  // last: +Inf
    std::uint64_t count = 0;
    std::uint64_t sum_nanos = 0;
  };
  Snapshot Read() const;

 private:
  std::array<Counter, kBounds + 1> buckets_{};  // each its own, not cumulative
  Counter sum_nanos_{0};
};

// Resumable sessions (session.h): their events, and the resumes that
// failed, by reason.
enum class ResumeFailure {
  kNotFound,     // unknown, ended, wrong secret or another namespace's
  kRateLimited,  // the peer failed too often lately (429)
};
inline constexpr std::size_t kResumeFailureKinds = 2;
struct SessionCounters {
  Counter created{0};
  Counter detached{0};  // its connection ended while the session lived
  Counter resumed{0};   // taken over by a new connection
  Counter expired{0};   // its window passed with no resume
  std::array<Counter, kResumeFailureKinds> failures{};
  Counter detached_now{0};  // a gauge: detached sessions now
  void CountFailure(ResumeFailure reason) {
    Increment(failures[static_cast<std::size_t>(reason)]);
  }
};

// How an HA server took over its group (ha/node.h): clean (its
// predecessor handed over with no lock live: no grace), in sync (it holds a
// whole replica of its predecessor's locks: no grace), or degraded (it
// holds none of them and waits the grace).
enum class Takeover { kClean, kInSync, kDegraded };
inline constexpr std::size_t kTakeoverKinds = 3;

struct Metrics {
  explicit Metrics(bool per_namespace_labels = false)
      : per_namespace(per_namespace_labels) {}

  void CountProtocolError(wire::ProtocolErrorKind kind) {
    Increment(protocol_errors[static_cast<std::size_t>(kind)]);
  }

  // Also count lock events per namespace (LockCounters kept by each
  // namespace) and render them labelled with its name.
  const bool per_namespace;
  LockCounters locks;
  std::array<Counter, wire::kProtocolErrorKinds> protocol_errors{};
  // Locks refused because the lock memory budget could not cover them (the
  // client is closed with 1013, try again later).
  Counter locks_refused_lock_memory{0};
  // Locks refused because their ID would be above the durable ceiling,
  // which could not be raised in time (HA mode, --state-dir).
  Counter locks_refused_id_ceiling{0};
  // Live locks an operator ended (DELETE /locks_v1, force_release.h).
  Counter locks_force_released{0};
  // WebSocket upgrades (/v1) that named a query parameter the server does
  // not know: a typo falls back to a default without a word otherwise.
  Counter unknown_query_parameters{0};
  Counter tcp_connections_accepted{0};  // every accepted socket
  Counter connections_accepted{0};      // WebSocket handshakes completed
  SessionCounters sessions;
  std::array<Counter, kTakeoverKinds> takeovers{};  // by Takeover
  // Replication, on an active: the standbys the group's record names in
  // sync now (a gauge), and those dropped for missing the ack bound.
  Counter in_sync_standbys{0};
  Counter standbys_dropped{0};
  Histogram wait;  // lock requested -> acquired
  Histogram hold;  // lock acquired -> released by its client
};

// One namespace as read at scrape time.
struct NamespaceSample {
  std::string name;
  std::uint64_t locks_pending = 0;
  std::uint64_t locks_acquired = 0;
  // How long its oldest enqueued lock has waited and its oldest acquired
  // lock has been held; 0 when it has none.
  std::uint64_t oldest_enqueued_nanos = 0;
  std::uint64_t oldest_acquired_nanos = 0;
  LockCounts counts;
};

// The process as /proc/self shows it at scrape time (process_metrics.h):
// the process_* series every Prometheus client library exports, under
// their standard names.
struct ProcessSample {
  std::uint64_t cpu_nanos = 0;         // user + system CPU time
  std::uint64_t start_time_nanos = 0;  // since the Unix epoch
  std::uint64_t resident_bytes = 0;
  std::uint64_t virtual_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;  // the soft RLIMIT_NOFILE
};

// What locktopus_build_info's labels say (util/version.h).
struct BuildInfo {
  std::string_view version;
  std::string_view compiler;
  std::string_view build_type;
};

// The gauges of one scrape.
struct ScrapeSample {
  std::uint64_t open_connections = 0;
  std::uint64_t namespaces_open = 0;
  std::uint64_t namespaces_opened = 0;  // since the start
  std::uint64_t locks_pending = 0;      // in every namespace
  std::uint64_t locks_acquired = 0;
  // Acquired locks whose connection ended, waiting for their abandon timer.
  std::uint64_t locks_abandoned = 0;
  std::uint64_t sessions_live = 0;      // attached or detached
  std::uint64_t lock_memory_bytes = 0;  // charged to the budget now
  std::uint64_t lock_memory_limit = 0;  // --max-lock-memory
  // The largest of any namespace's (NamespaceSample).
  std::uint64_t oldest_enqueued_nanos = 0;
  std::uint64_t oldest_acquired_nanos = 0;
  // Every role the server may have (ha::kRoleNames), and the one it has:
  // one locktopus_ha_role series per role, 1 for `role` and 0 for the
  // others.
  std::span<const std::string_view> roles;
  std::string_view role;
  // What is left of the grace after a takeover; 0 in every other role.
  std::uint64_t grace_left_nanos = 0;
  BuildInfo build;
  // Unset where /proc/self cannot be read: no process_* series then.
  std::optional<ProcessSample> process;
  // Every open namespace, when Metrics::per_namespace; empty otherwise.
  std::vector<NamespaceSample> namespaces;
};

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// The text exposition of `metrics` and `sample`: a HELP and a TYPE line per
// family, families in a fixed order, one line per series.
std::string RenderPrometheus(const Metrics& metrics,
                             const ScrapeSample& sample);

// A namespace name as a label value: valid UTF-8 whatever the name's bytes
// are, and distinct for distinct names. '%' and every byte that is not part
// of valid UTF-8 are percent-encoded, and so are control characters (line
// feeds included); '\' and '"' are escaped as the text format requires.
std::string LabelValue(std::string_view name);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_METRICS_H_
