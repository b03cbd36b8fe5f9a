#include "server/core/metrics.h"

#include <algorithm>

#include "wire/utf8.h"

namespace locktopus::server {
namespace {

std::uint64_t Load(const Counter& counter) {
  return counter.load(std::memory_order_relaxed);
}

// Nanoseconds as exact decimal seconds: 1500000 -> "0.0015".
std::string Seconds(std::uint64_t nanos) {
  std::string out = std::to_string(nanos / 1'000'000'000);
  std::uint64_t fraction = nanos % 1'000'000'000;
  if (fraction == 0) return out;
  std::string digits = std::to_string(fraction);
  digits.insert(0, 9 - digits.size(), '0');
  digits.erase(digits.find_last_not_of('0') + 1);
  return out + "." + digits;
}

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void Family(std::string_view name, std::string_view type,
              std::string_view help) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }

  // name{labels} number, `labels` written as label="value",...; empty: no
  // labels.
  void Labelled(std::string_view name, std::string_view labels,
                std::string_view number) {
    out_.append(name);
    if (!labels.empty()) out_.append("{").append(labels).append("}");
    out_.append(" ").append(number).append("\n");
  }

  // name{label="value"} number; `label` empty: no labels.
  void Sample(std::string_view name, std::string_view label,
              std::string_view value, std::string_view number) {
    Labelled(name,
             label.empty()
                 ? std::string()
                 : std::string(label) + "=\"" + std::string(value) + "\"",
             number);
  }

  void Sample(std::string_view name, std::uint64_t number) {
    Sample(name, "", "", std::to_string(number));
  }

  // A family of one unlabelled sample.
  void Single(std::string_view name, std::string_view type,
              std::string_view help, std::string_view number) {
    Family(name, type, help);
    Sample(name, "", "", number);
  }
  void Single(std::string_view name, std::string_view type,
              std::string_view help, std::uint64_t number) {
    Single(name, type, help, std::to_string(number));
  }

  void Histogram(std::string_view name, std::string_view help,
                 const Histogram::Snapshot& h) {
    Family(name, "histogram", help);
    const std::string bucket = std::string(name) + "_bucket";
    for (std::size_t i = 0; i < Histogram::kBounds; ++i) {
      Sample(bucket, "le", Histogram::kBoundText[i],
             std::to_string(h.cumulative[i]));
    }
    Sample(bucket, "le", "+Inf", std::to_string(h.cumulative.back()));
    Sample(std::string(name) + "_sum", "", "", Seconds(h.sum_nanos));
    Sample(std::string(name) + "_count", h.count);
  }

 private:
  std::string& out_;
};

struct LockCounterFamily {
  std::string_view name;  // after "locktopus_" or "locktopus_namespace_"
  std::uint64_t LockCounts::*count;
  std::string_view help;
};

constexpr LockCounterFamily kLockCounters[] = {
    {"locks_requested_total", &LockCounts::requested, "Locks requested."},
    {"locks_acquired_total", &LockCounts::acquired,
     "Locks acquired, at once or after waiting."},
    {"locks_released_total", &LockCounts::released,
     "Acquired locks released by their client."},
    {"locks_cancelled_total", &LockCounts::cancelled,
     "Enqueued locks released, or dropped with their connection."},
    {"locks_abandoned_total", &LockCounts::abandoned,
     "Acquired locks whose connection ended; each is released after its "
     "abandon timeout."},
};

}  // namespace

LockCounts Read(const LockCounters& c) {
  return {.requested = Load(c.requested),
          .acquired = Load(c.acquired),
          .released = Load(c.released),
          .cancelled = Load(c.cancelled),
          .abandoned = Load(c.abandoned)};
}

void Histogram::Observe(std::chrono::nanoseconds duration) {
  const std::int64_t nanos = std::max<std::int64_t>(0, duration.count());
  const auto bound =
      std::lower_bound(kBoundNanos.begin(), kBoundNanos.end(), nanos);
  Increment(buckets_[bound - kBoundNanos.begin()]);
  sum_nanos_.fetch_add(static_cast<std::uint64_t>(nanos),
                       std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    s.count += Load(buckets_[i]);
    s.cumulative[i] = s.count;
  }
  s.sum_nanos = Load(sum_nanos_);
  return s;
}

std::string LabelValue(std::string_view name) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(name.size());
  while (!name.empty()) {
    const std::size_t length = wire::Utf8CharLength(name);
    const auto c = static_cast<unsigned char>(name[0]);
    if (length == 0 || c < 0x20 || c == 0x7F || c == '%') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
      name.remove_prefix(1);
      continue;
    }
    if (c == '\\' || c == '"') out += '\\';
    out.append(name.substr(0, length));
    name.remove_prefix(length);
  }
  return out;
}

std::string RenderPrometheus(const Metrics& metrics,
                             const ScrapeSample& sample) {
  std::string out;
  out.reserve(4096 +
              (metrics.per_namespace ? sample.namespaces.size() * 512 : 0));
  Writer w(out);
  const std::string prefix = "locktopus_";

  const LockCounts locks = Read(metrics.locks);
  for (const LockCounterFamily& f : kLockCounters) {
    const std::string name = prefix + std::string(f.name);
    w.Family(name, "counter", f.help);
    w.Sample(name, locks.*f.count);
  }

  w.Family("locktopus_protocol_errors_total", "counter",
           "Connections closed for a protocol error, by kind of error.");
  for (std::size_t i = 0; i < wire::kProtocolErrorKinds; ++i) {
    w.Sample("locktopus_protocol_errors_total", "reason",
             wire::Name(static_cast<wire::ProtocolErrorKind>(i)),
             std::to_string(Load(metrics.protocol_errors[i])));
  }

  w.Family("locktopus_locks_refused_total", "counter",
           "Lock requests refused without fault of the client, by reason; "
           "each client is closed with 1013 (try again later).");
  w.Sample("locktopus_locks_refused_total", "reason", "lock_memory",
           std::to_string(Load(metrics.locks_refused_lock_memory)));
  w.Sample("locktopus_locks_refused_total", "reason", "id_ceiling",
           std::to_string(Load(metrics.locks_refused_id_ceiling)));
  w.Family("locktopus_locks_force_released_total", "counter",
           "Live locks ended by an operator (DELETE /locks_v1); each is "
           "also counted as its connection saw its end.");
  w.Sample("locktopus_locks_force_released_total",
           Load(metrics.locks_force_released));
  w.Family("locktopus_unknown_query_parameters_total", "counter",
           "Lock connections (/v1) whose URL named a parameter the server "
           "does not know (a typo such as abandonTimeout= falls back to the "
           "default); the first use of each name is logged.");
  w.Sample("locktopus_unknown_query_parameters_total",
           Load(metrics.unknown_query_parameters));

  const SessionCounters& sessions = metrics.sessions;
  w.Single("locktopus_sessions_created_total", "counter",
           "Resumable sessions opened (/v1?session=new).",
           Load(sessions.created));
  w.Single("locktopus_sessions_detached_total", "counter",
           "Times a session's connection ended while the session lived: its "
           "lock stays live for the session's window.",
           Load(sessions.detached));
  w.Single("locktopus_sessions_resumed_total", "counter",
           "Sessions taken over by a new connection (/v1?session=TOKEN).",
           Load(sessions.resumed));
  w.Single("locktopus_sessions_expired_total", "counter",
           "Sessions whose window passed with no resume: their lock ended "
           "as a dropped connection's.",
           Load(sessions.expired));
  w.Family("locktopus_session_resume_failures_total", "counter",
           "Resumes refused, by reason: not_found (unknown, expired, wrong "
           "secret or another namespace's token: close 4410), rate_limited "
           "(the peer failed too often lately: 429).");
  constexpr std::array<std::string_view, kResumeFailureKinds> kFailureNames = {
      "not_found", "rate_limited"};  // by ResumeFailure
  for (std::size_t i = 0; i < kResumeFailureKinds; ++i) {
    w.Sample("locktopus_session_resume_failures_total", "reason",
             kFailureNames[i], std::to_string(Load(sessions.failures[i])));
  }
  w.Single("locktopus_sessions", "gauge",
           "Sessions live now, attached or detached (at most --max-sessions).",
           sample.sessions_live);
  w.Single("locktopus_sessions_detached", "gauge",
           "Sessions detached now: no connection, their lock live until their "
           "window passes.",
           Load(sessions.detached_now));

  w.Family("locktopus_tcp_connections_accepted_total", "counter",
           "TCP connections accepted (HTTP requests and WebSocket upgrades).");
  w.Sample("locktopus_tcp_connections_accepted_total",
           Load(metrics.tcp_connections_accepted));
  w.Family("locktopus_connections_accepted_total", "counter",
           "WebSocket connections accepted (handshake completed).");
  w.Sample("locktopus_connections_accepted_total",
           Load(metrics.connections_accepted));

  w.Family("locktopus_connections_open", "gauge",
           "Open WebSocket connections.");
  w.Sample("locktopus_connections_open", sample.open_connections);
  w.Family("locktopus_namespaces", "gauge",
           "Namespaces open now (held by a connection or an abandoned lock).");
  w.Sample("locktopus_namespaces", sample.namespaces_open);
  w.Family("locktopus_namespaces_opened_total", "counter",
           "Namespaces opened since the start; a namespace freed while idle "
           "and opened again counts again.");
  w.Sample("locktopus_namespaces_opened_total", sample.namespaces_opened);
  w.Family("locktopus_pending_locks", "gauge", "Locks enqueued now.");
  w.Sample("locktopus_pending_locks", sample.locks_pending);
  w.Family("locktopus_acquired_locks", "gauge",
           "Locks acquired now, abandoned ones included.");
  w.Sample("locktopus_acquired_locks", sample.locks_acquired);
  w.Single("locktopus_abandoned_locks", "gauge",
           "Acquired locks whose connection ended, held now until their "
           "abandon timeout passes (also counted in "
           "locktopus_acquired_locks).",
           sample.locks_abandoned);
  w.Family("locktopus_lock_memory_bytes", "gauge",
           "Heap bytes of the lock state of every namespace (trie nodes, "
           "entries, locks, indexes), as charged to --max-lock-memory.");
  w.Sample("locktopus_lock_memory_bytes", sample.lock_memory_bytes);
  w.Family("locktopus_lock_memory_limit_bytes", "gauge",
           "--max-lock-memory: locks that would take the lock state over it "
           "are refused.");
  w.Sample("locktopus_lock_memory_limit_bytes", sample.lock_memory_limit);

  w.Family("locktopus_oldest_enqueued_lock_seconds", "gauge",
           "How long the lock enqueued the longest, in any namespace, has "
           "waited; 0 when no lock waits.");
  w.Sample("locktopus_oldest_enqueued_lock_seconds", "", "",
           Seconds(sample.oldest_enqueued_nanos));
  w.Family("locktopus_oldest_acquired_lock_seconds", "gauge",
           "How long the lock acquired the longest, in any namespace, has "
           "been held (abandoned ones included); 0 when no lock is held.");
  w.Sample("locktopus_oldest_acquired_lock_seconds", "", "",
           Seconds(sample.oldest_acquired_nanos));

  w.Histogram("locktopus_lock_wait_seconds",
              "Time from a lock's request to its acquisition.",
              metrics.wait.Read());
  w.Histogram("locktopus_lock_hold_seconds",
              "Time from a lock's acquisition to its release by its client.",
              metrics.hold.Read());

  w.Family("locktopus_ha_role", "gauge",
           "The server's role, one series per role: 1 for the role it has, "
           "0 for the others (always serving without HA or --state-dir).");
  for (const std::string_view role : sample.roles) {
    w.Sample("locktopus_ha_role", "role", role,
             role == sample.role ? "1" : "0");
  }
  w.Family("locktopus_ha_takeovers_total", "counter",
           "Times this server became its HA group's active, by kind: clean "
           "(its predecessor handed over with no lock live, no grace), "
           "in_sync (it holds its predecessor's locks, no grace), degraded "
           "(its predecessor's locks are gone and it waits the grace).");
  constexpr std::array<std::string_view, kTakeoverKinds> kTakeoverNames = {
      "clean", "in_sync", "degraded"};  // by Takeover
  for (std::size_t i = 0; i < kTakeoverKinds; ++i) {
    w.Sample("locktopus_ha_takeovers_total", "kind", kTakeoverNames[i],
             std::to_string(Load(metrics.takeovers[i])));
  }
  w.Single("locktopus_ha_in_sync_standbys", "gauge",
           "Standbys the group's record names in sync with this active: "
           "each holds every lock its clients were told of (replication, "
           "--ha-peer-token-file); 0 elsewhere.",
           Load(metrics.in_sync_standbys));
  w.Single("locktopus_ha_standbys_dropped_total", "counter",
           "Standbys this active took out of the in-sync set for leaving a "
           "change unacknowledged past --ha-ack-timeout-ms.",
           Load(metrics.standbys_dropped));
  w.Single("locktopus_ha_grace_remaining_seconds", "gauge",
           "What is left of the grace after a takeover, or after an unclean "
           "stop with --state-dir, while acquisitions are held; 0 in every "
           "other role.",
           Seconds(sample.grace_left_nanos));
  w.Family("locktopus_build_info", "gauge",
           "The server's version, compiler and build type, as labels; "
           "always 1.");
  w.Labelled("locktopus_build_info",
             "version=\"" + LabelValue(sample.build.version) +
                 "\",compiler=\"" + LabelValue(sample.build.compiler) +
                 "\",build_type=\"" + LabelValue(sample.build.build_type) +
                 "\"",
             "1");

  if (const std::optional<ProcessSample>& p = sample.process) {
    w.Single("process_cpu_seconds_total", "counter",
             "Total user and system CPU time spent in seconds.",
             Seconds(p->cpu_nanos));
    w.Single("process_open_fds", "gauge", "Number of open file descriptors.",
             p->open_fds);
    w.Single("process_max_fds", "gauge",
             "Maximum number of open file descriptors.", p->max_fds);
    w.Single("process_virtual_memory_bytes", "gauge",
             "Virtual memory size in bytes.", p->virtual_bytes);
    w.Single("process_resident_memory_bytes", "gauge",
             "Resident memory size in bytes.", p->resident_bytes);
    w.Single("process_start_time_seconds", "gauge",
             "Start time of the process since unix epoch in seconds.",
             Seconds(p->start_time_nanos));
  }

  if (!metrics.per_namespace) return out;
  std::vector<std::string> labels;
  labels.reserve(sample.namespaces.size());
  for (const NamespaceSample& ns : sample.namespaces) {
    labels.push_back(LabelValue(ns.name));
  }
  for (const LockCounterFamily& f : kLockCounters) {
    const std::string name = prefix + "namespace_" + std::string(f.name);
    w.Family(name, "counter", std::string(f.help) + " By namespace.");
    for (std::size_t i = 0; i < sample.namespaces.size(); ++i) {
      w.Sample(name, "namespace", labels[i],
               std::to_string(sample.namespaces[i].counts.*f.count));
    }
  }
  w.Family("locktopus_namespace_pending_locks", "gauge",
           "Locks enqueued now, by namespace.");
  for (std::size_t i = 0; i < sample.namespaces.size(); ++i) {
    w.Sample("locktopus_namespace_pending_locks", "namespace", labels[i],
             std::to_string(sample.namespaces[i].locks_pending));
  }
  w.Family("locktopus_namespace_acquired_locks", "gauge",
           "Locks acquired now, by namespace.");
  for (std::size_t i = 0; i < sample.namespaces.size(); ++i) {
    w.Sample("locktopus_namespace_acquired_locks", "namespace", labels[i],
             std::to_string(sample.namespaces[i].locks_acquired));
  }
  w.Family("locktopus_namespace_oldest_enqueued_lock_seconds", "gauge",
           "How long the lock enqueued the longest has waited, by "
           "namespace; 0 when none waits.");
  for (std::size_t i = 0; i < sample.namespaces.size(); ++i) {
    w.Sample("locktopus_namespace_oldest_enqueued_lock_seconds", "namespace",
             labels[i], Seconds(sample.namespaces[i].oldest_enqueued_nanos));
  }
  w.Family("locktopus_namespace_oldest_acquired_lock_seconds", "gauge",
           "How long the lock acquired the longest has been held, by "
           "namespace; 0 when none is held.");
  for (std::size_t i = 0; i < sample.namespaces.size(); ++i) {
    w.Sample("locktopus_namespace_oldest_acquired_lock_seconds", "namespace",
             labels[i], Seconds(sample.namespaces[i].oldest_acquired_nanos));
  }
  return out;
}

}  // namespace locktopus::server
