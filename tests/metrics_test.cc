// The metrics registry and its Prometheus text rendering: histogram
// buckets, label values, and the exact exposition of a small known state.

#include "server/core/metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace locktopus::server {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(Histogram, BucketUpperBoundsAreInclusive) {
  Histogram h;
  h.Observe(nanoseconds(0));
  h.Observe(nanoseconds(-5));       // a clock step back counts as 0
  h.Observe(microseconds(100));     // exactly the first bound
  h.Observe(nanoseconds(100'001));  // just above it
  h.Observe(milliseconds(1));       // exactly 0.001
  h.Observe(seconds(60));           // exactly the last bound
  h.Observe(seconds(61));           // +Inf only
  const Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.count, 7u);
  EXPECT_EQ(s.cumulative[0], 3u);   // le 0.0001
  EXPECT_EQ(s.cumulative[1], 4u);   // le 0.00025
  EXPECT_EQ(s.cumulative[2], 4u);   // le 0.0005
  EXPECT_EQ(s.cumulative[3], 5u);   // le 0.001
  EXPECT_EQ(s.cumulative[16], 5u);  // le 30
  EXPECT_EQ(s.cumulative[17], 6u);  // le 60
  EXPECT_EQ(s.cumulative[18], 7u);  // +Inf
  EXPECT_EQ(s.sum_nanos, 100'000u + 100'001u + 1'000'000u + 121'000'000'000u);
}

TEST(Histogram, BoundsAreIncreasingAndMatchTheirText) {
  for (std::size_t i = 0; i < Histogram::kBounds; ++i) {
    if (i > 0) {
      EXPECT_LT(Histogram::kBoundNanos[i - 1], Histogram::kBoundNanos[i]);
    }
    EXPECT_DOUBLE_EQ(std::stod(std::string(Histogram::kBoundText[i])) * 1e9,
                     static_cast<double>(Histogram::kBoundNanos[i]))
        << i;
  }
}

TEST(LabelValue, EscapesAndKeepsNamesDistinct) {
  EXPECT_EQ(LabelValue("billing"), "billing");
  EXPECT_EQ(LabelValue("a b/c"), "a b/c");
  EXPECT_EQ(LabelValue("q\"b\\s"), "q\\\"b\\\\s");
  EXPECT_EQ(LabelValue("line\nfeed\x01"), "line%0Afeed%01");
  EXPECT_EQ(LabelValue("100%"), "100%25");
  EXPECT_EQ(LabelValue("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\x99"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\x99");  // valid UTF-8 stays
  // Bytes that are not valid UTF-8: a lone continuation, a truncated
  // sequence, an overlong form, a surrogate, and above U+10FFFF.
  EXPECT_EQ(LabelValue("\x80"), "%80");
  EXPECT_EQ(LabelValue("a\xC3"), "a%C3");
  EXPECT_EQ(LabelValue("\xC0\xAF"), "%C0%AF");
  EXPECT_EQ(LabelValue("\xED\xA0\x80"), "%ED%A0%80");
  EXPECT_EQ(LabelValue("\xF4\x90\x80\x80"), "%F4%90%80%80");
  // An encoded name never equals the plain spelling of another name.
  EXPECT_NE(LabelValue("\xFF"), LabelValue("%FF"));
}

// Every series of the default exposition, for a small known state.
TEST(RenderPrometheus, ExactTextOfAKnownState) {
  Metrics m;
  for (int i = 0; i < 5; ++i) Increment(m.locks.requested);
  for (int i = 0; i < 4; ++i) Increment(m.locks.acquired);
  for (int i = 0; i < 2; ++i) Increment(m.locks.released);
  Increment(m.locks.cancelled);
  Increment(m.locks.abandoned);
  m.CountProtocolError(wire::ProtocolErrorKind::kBadJson);
  m.CountProtocolError(wire::ProtocolErrorKind::kWrongState);
  m.CountProtocolError(wire::ProtocolErrorKind::kWrongState);
  for (int i = 0; i < 9; ++i) Increment(m.tcp_connections_accepted);
  for (int i = 0; i < 6; ++i) Increment(m.connections_accepted);
  m.wait.Observe(microseconds(50));
  m.wait.Observe(microseconds(50));
  m.wait.Observe(milliseconds(3));
  m.wait.Observe(seconds(90));
  m.hold.Observe(nanoseconds(1'500'000'001));
  m.hold.Observe(seconds(2));
  Increment(m.locks_refused_lock_memory);
  Increment(m.locks_force_released);
  const ScrapeSample sample{
      .open_connections = 3,
      .namespaces_open = 2,
      .namespaces_opened = 5,
      .locks_pending = 1,
      .locks_acquired = 3,
      .lock_memory_bytes = 4096,
      .lock_memory_limit = 1 << 20,
      .oldest_enqueued_nanos = 301'500'000'000,
      .oldest_acquired_nanos = 7'000'000,
      // per-namespace series are off: not rendered
      .namespaces = {{.name = "a", .locks_pending = 1, .locks_acquired = 2}}};

  std::string wait_buckets, hold_buckets;
  for (std::size_t i = 0; i < Histogram::kBounds; ++i) {
    const std::string le(Histogram::kBoundText[i]);
    // wait: 2 at 50 µs, 1 at 3 ms (le 0.005 is index 5), 1 above 60 s.
    wait_buckets += "locktopus_lock_wait_seconds_bucket{le=\"" + le + "\"} " +
                    (i < 5 ? "2" : "3") + "\n";
    // hold: 1.5 s (le 2.5, index 13) and 2 s (also le 2.5).
    hold_buckets += "locktopus_lock_hold_seconds_bucket{le=\"" + le + "\"} " +
                    (i < 13 ? "0" : "2") + "\n";
  }
  EXPECT_EQ(RenderPrometheus(m, sample),
            "# HELP locktopus_locks_requested_total Locks requested.\n"
            "# TYPE locktopus_locks_requested_total counter\n"
            "locktopus_locks_requested_total 5\n"
            "# HELP locktopus_locks_acquired_total Locks acquired, at once or "
            "after waiting.\n"
            "# TYPE locktopus_locks_acquired_total counter\n"
            "locktopus_locks_acquired_total 4\n"
            "# HELP locktopus_locks_released_total Acquired locks released by "
            "their client.\n"
            "# TYPE locktopus_locks_released_total counter\n"
            "locktopus_locks_released_total 2\n"
            "# HELP locktopus_locks_cancelled_total Enqueued locks released, "
            "or dropped with their connection.\n"
            "# TYPE locktopus_locks_cancelled_total counter\n"
            "locktopus_locks_cancelled_total 1\n"
            "# HELP locktopus_locks_abandoned_total Acquired locks whose "
            "connection ended; each is released after its abandon timeout.\n"
            "# TYPE locktopus_locks_abandoned_total counter\n"
            "locktopus_locks_abandoned_total 1\n"
            "# HELP locktopus_protocol_errors_total Connections closed for a "
            "protocol error, by kind of error.\n"
            "# TYPE locktopus_protocol_errors_total counter\n"
            "locktopus_protocol_errors_total{reason=\"bad_json\"} 1\n"
            "locktopus_protocol_errors_total{reason=\"bad_message\"} 0\n"
            "locktopus_protocol_errors_total{reason=\"oversized\"} 0\n"
            "locktopus_protocol_errors_total{reason=\"over_limit\"} 0\n"
            "locktopus_protocol_errors_total{reason=\"wrong_state\"} 2\n"
            "locktopus_protocol_errors_total{reason=\"shutting_down\"} 0\n"
            "# HELP locktopus_locks_refused_total Lock requests refused "
            "without fault of the client, by reason; each client is closed "
            "with 1013 (try again later).\n"
            "# TYPE locktopus_locks_refused_total counter\n"
            "locktopus_locks_refused_total{reason=\"lock_memory\"} 1\n"
            "locktopus_locks_refused_total{reason=\"id_ceiling\"} 0\n"
            "# HELP locktopus_locks_force_released_total Live locks ended by "
            "an operator (DELETE /locks_v1); each is also counted as its "
            "connection saw its end.\n"
            "# TYPE locktopus_locks_force_released_total counter\n"
            "locktopus_locks_force_released_total 1\n"
            "# HELP locktopus_unknown_query_parameters_total Lock connections "
            "(/v1) whose URL named a parameter the server does not know (a "
            "typo such as abandonTimeout= falls back to the default); the "
            "first use of each name is logged.\n"
            "# TYPE locktopus_unknown_query_parameters_total counter\n"
            "locktopus_unknown_query_parameters_total 0\n"
            "# HELP locktopus_tcp_connections_accepted_total TCP connections "
            "accepted (HTTP requests and WebSocket upgrades).\n"
            "# TYPE locktopus_tcp_connections_accepted_total counter\n"
            "locktopus_tcp_connections_accepted_total 9\n"
            "# HELP locktopus_connections_accepted_total WebSocket connections "
            "accepted (handshake completed).\n"
            "# TYPE locktopus_connections_accepted_total counter\n"
            "locktopus_connections_accepted_total 6\n"
            "# HELP locktopus_connections_open Open WebSocket connections.\n"
            "# TYPE locktopus_connections_open gauge\n"
            "locktopus_connections_open 3\n"
            "# HELP locktopus_namespaces Namespaces open now (held by a "
            "connection or an abandoned lock).\n"
            "# TYPE locktopus_namespaces gauge\n"
            "locktopus_namespaces 2\n"
            "# HELP locktopus_namespaces_opened_total Namespaces opened since "
            "the start; a namespace freed while idle and opened again counts "
            "again.\n"
            "# TYPE locktopus_namespaces_opened_total counter\n"
            "locktopus_namespaces_opened_total 5\n"
            "# HELP locktopus_pending_locks Locks enqueued now.\n"
            "# TYPE locktopus_pending_locks gauge\n"
            "locktopus_pending_locks 1\n"
            "# HELP locktopus_acquired_locks Locks acquired now, abandoned "
            "ones included.\n"
            "# TYPE locktopus_acquired_locks gauge\n"
            "locktopus_acquired_locks 3\n"
            "# HELP locktopus_lock_memory_bytes Heap bytes of the lock state "
            "of every namespace (trie nodes, entries, locks, indexes), as "
            "charged to --max-lock-memory.\n"
            "# TYPE locktopus_lock_memory_bytes gauge\n"
            "locktopus_lock_memory_bytes 4096\n"
            "# HELP locktopus_lock_memory_limit_bytes --max-lock-memory: locks "
            "that would take the lock state over it are refused.\n"
            "# TYPE locktopus_lock_memory_limit_bytes gauge\n"
            "locktopus_lock_memory_limit_bytes 1048576\n"
            "# HELP locktopus_oldest_enqueued_lock_seconds How long the lock "
            "enqueued the longest, in any namespace, has waited; 0 when no "
            "lock waits.\n"
            "# TYPE locktopus_oldest_enqueued_lock_seconds gauge\n"
            "locktopus_oldest_enqueued_lock_seconds 301.5\n"
            "# HELP locktopus_oldest_acquired_lock_seconds How long the lock "
            "acquired the longest, in any namespace, has been held (abandoned "
            "ones included); 0 when no lock is held.\n"
            "# TYPE locktopus_oldest_acquired_lock_seconds gauge\n"
            "locktopus_oldest_acquired_lock_seconds 0.007\n"
            "# HELP locktopus_lock_wait_seconds Time from a lock's request to "
            "its acquisition.\n"
            "# TYPE locktopus_lock_wait_seconds histogram\n" +
                wait_buckets +
                "locktopus_lock_wait_seconds_bucket{le=\"+Inf\"} 4\n"
                "locktopus_lock_wait_seconds_sum 90.0031\n"
                "locktopus_lock_wait_seconds_count 4\n"
                "# HELP locktopus_lock_hold_seconds Time from a lock's "
                "acquisition to its release by its client.\n"
                "# TYPE locktopus_lock_hold_seconds histogram\n" +
                hold_buckets +
                "locktopus_lock_hold_seconds_bucket{le=\"+Inf\"} 2\n"
                "locktopus_lock_hold_seconds_sum 3.500000001\n"
                "locktopus_lock_hold_seconds_count 2\n");
}

TEST(RenderPrometheus, NamespaceSeriesOnlyWhenAskedFor) {
  LockCounters a;
  for (int i = 0; i < 3; ++i) Increment(a.requested);
  Increment(a.acquired);
  Increment(a.cancelled);
  const ScrapeSample sample{
      .namespaces_open = 2,
      .namespaces_opened = 2,
      .locks_pending = 2,
      .locks_acquired = 1,
      .namespaces = {
          {.name = "a",
           .locks_pending = 2,
           .locks_acquired = 1,
           .oldest_enqueued_nanos = 2'000'000'000,
           .oldest_acquired_nanos = 1,
           .counts = Read(a)},
          {.name = "q\"\n", .counts = {.requested = 1, .abandoned = 1}}}};

  const std::string plain = RenderPrometheus(Metrics(false), sample);
  EXPECT_EQ(plain.find("{namespace="), std::string::npos) << plain;

  const std::string labelled = RenderPrometheus(Metrics(true), sample);
  // The unlabelled families come first, unchanged by the flag.
  ASSERT_EQ(labelled.rfind(plain, 0), 0u);
  EXPECT_EQ(
      labelled.substr(plain.size()),
      "# HELP locktopus_namespace_locks_requested_total Locks requested. By "
      "namespace.\n"
      "# TYPE locktopus_namespace_locks_requested_total counter\n"
      "locktopus_namespace_locks_requested_total{namespace=\"a\"} 3\n"
      "locktopus_namespace_locks_requested_total{namespace=\"q\\\"%0A\"} 1\n"
      "# HELP locktopus_namespace_locks_acquired_total Locks acquired, at "
      "once or after waiting. By namespace.\n"
      "# TYPE locktopus_namespace_locks_acquired_total counter\n"
      "locktopus_namespace_locks_acquired_total{namespace=\"a\"} 1\n"
      "locktopus_namespace_locks_acquired_total{namespace=\"q\\\"%0A\"} 0\n"
      "# HELP locktopus_namespace_locks_released_total Acquired locks "
      "released by their client. By namespace.\n"
      "# TYPE locktopus_namespace_locks_released_total counter\n"
      "locktopus_namespace_locks_released_total{namespace=\"a\"} 0\n"
      "locktopus_namespace_locks_released_total{namespace=\"q\\\"%0A\"} 0\n"
      "# HELP locktopus_namespace_locks_cancelled_total Enqueued locks "
      "released, or dropped with their connection. By namespace.\n"
      "# TYPE locktopus_namespace_locks_cancelled_total counter\n"
      "locktopus_namespace_locks_cancelled_total{namespace=\"a\"} 1\n"
      "locktopus_namespace_locks_cancelled_total{namespace=\"q\\\"%0A\"} 0\n"
      "# HELP locktopus_namespace_locks_abandoned_total Acquired locks whose "
      "connection ended; each is released after its abandon timeout. By "
      "namespace.\n"
      "# TYPE locktopus_namespace_locks_abandoned_total counter\n"
      "locktopus_namespace_locks_abandoned_total{namespace=\"a\"} 0\n"
      "locktopus_namespace_locks_abandoned_total{namespace=\"q\\\"%0A\"} 1\n"
      "# HELP locktopus_namespace_pending_locks Locks enqueued now, by "
      "namespace.\n"
      "# TYPE locktopus_namespace_pending_locks gauge\n"
      "locktopus_namespace_pending_locks{namespace=\"a\"} 2\n"
      "locktopus_namespace_pending_locks{namespace=\"q\\\"%0A\"} 0\n"
      "# HELP locktopus_namespace_acquired_locks Locks acquired now, by "
      "namespace.\n"
      "# TYPE locktopus_namespace_acquired_locks gauge\n"
      "locktopus_namespace_acquired_locks{namespace=\"a\"} 1\n"
      "locktopus_namespace_acquired_locks{namespace=\"q\\\"%0A\"} 0\n"
      "# HELP locktopus_namespace_oldest_enqueued_lock_seconds How long the "
      "lock enqueued the longest has waited, by namespace; 0 when none "
      "waits.\n"
      "# TYPE locktopus_namespace_oldest_enqueued_lock_seconds gauge\n"
      "locktopus_namespace_oldest_enqueued_lock_seconds{namespace=\"a\"} 2\n"
      "locktopus_namespace_oldest_enqueued_lock_seconds{namespace=\"q\\\"%0A\"}"
      " "
      "0\n"
      "# HELP locktopus_namespace_oldest_acquired_lock_seconds How long the "
      "lock acquired the longest has been held, by namespace; 0 when none "
      "is held.\n"
      "# TYPE locktopus_namespace_oldest_acquired_lock_seconds gauge\n"
      "locktopus_namespace_oldest_acquired_lock_seconds{namespace=\"a\"} "
      "0.000000001\n"
      "locktopus_namespace_oldest_acquired_lock_seconds{namespace=\"q\\\"%0A\"}"
      " "
      "0\n");
}

}  // namespace
}  // namespace locktopus::server
