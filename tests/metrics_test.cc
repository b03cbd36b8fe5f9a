// The metrics registry and its Prometheus text rendering: histogram
// buckets, label values, and the exact exposition of a small known state;
// the process_* series read from /proc.

#include "server/core/metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "server/core/process_metrics.h"

namespace locktopus::server {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// Three roles, as a server names them (ha::kRoleNames has them all).
constexpr std::string_view kRoleNamesForTest[] = {"standby", "grace",
                                                  "serving"};
constexpr std::span<const std::string_view> kRoles(kRoleNamesForTest);

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
  for (int i = 0; i < 3; ++i) Increment(m.sessions.created);
  for (int i = 0; i < 2; ++i) Increment(m.sessions.detached);
  Increment(m.sessions.resumed);
  Increment(m.sessions.expired);
  m.sessions.CountFailure(ResumeFailure::kNotFound);
  m.sessions.CountFailure(ResumeFailure::kNotFound);
  m.sessions.CountFailure(ResumeFailure::kRateLimited);
  Increment(m.sessions.detached_now);
  Increment(m.takeovers[static_cast<std::size_t>(Takeover::kDegraded)]);
  const ScrapeSample sample{
      .open_connections = 3,
      .namespaces_open = 2,
      .namespaces_opened = 5,
      .locks_pending = 1,
      .locks_acquired = 3,
      .locks_abandoned = 2,
      .sessions_live = 2,
      .lock_memory_bytes = 4096,
      .lock_memory_limit = 1 << 20,
      .oldest_enqueued_nanos = 301'500'000'000,
      .oldest_acquired_nanos = 7'000'000,
      .roles = kRoles,
      .role = "grace",
      .grace_left_nanos = 12'250'000'000,
      .build = {.version = "1.2.3",
                .compiler = "GNU 12.2.0",
                .build_type = "Release"},
      .process = ProcessSample{.cpu_nanos = 1'230'000'000,
                               .start_time_nanos = 1'700'000'000'500'000'000,
                               .resident_bytes = 8'192'000,
                               .virtual_bytes = 65'536'000,
                               .open_fds = 17,
                               .max_fds = 1024},
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
            "# HELP locktopus_sessions_created_total Resumable sessions "
            "opened (/v1?session=new).\n"
            "# TYPE locktopus_sessions_created_total counter\n"
            "locktopus_sessions_created_total 3\n"
            "# HELP locktopus_sessions_detached_total Times a session's "
            "connection ended while the session lived: its lock stays live "
            "for the session's window.\n"
            "# TYPE locktopus_sessions_detached_total counter\n"
            "locktopus_sessions_detached_total 2\n"
            "# HELP locktopus_sessions_resumed_total Sessions taken over by a "
            "new connection (/v1?session=TOKEN).\n"
            "# TYPE locktopus_sessions_resumed_total counter\n"
            "locktopus_sessions_resumed_total 1\n"
            "# HELP locktopus_sessions_expired_total Sessions whose window "
            "passed with no resume: their lock ended as a dropped "
            "connection's.\n"
            "# TYPE locktopus_sessions_expired_total counter\n"
            "locktopus_sessions_expired_total 1\n"
            "# HELP locktopus_session_resume_failures_total Resumes refused, "
            "by reason: not_found (unknown, expired, wrong secret or another "
            "namespace's token: close 4410), rate_limited (the peer failed "
            "too often lately: 429).\n"
            "# TYPE locktopus_session_resume_failures_total counter\n"
            "locktopus_session_resume_failures_total{reason=\"not_found\"} 2\n"
            "locktopus_session_resume_failures_total{reason=\"rate_limited\"} "
            "1\n"
            "# HELP locktopus_sessions Sessions live now, attached or detached "
            "(at most --max-sessions).\n"
            "# TYPE locktopus_sessions gauge\n"
            "locktopus_sessions 2\n"
            "# HELP locktopus_sessions_detached Sessions detached now: no "
            "connection, their lock live until their window passes.\n"
            "# TYPE locktopus_sessions_detached gauge\n"
            "locktopus_sessions_detached 1\n"
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
            "# HELP locktopus_abandoned_locks Acquired locks whose connection "
            "ended, held now until their abandon timeout passes (also "
            "counted in locktopus_acquired_locks).\n"
            "# TYPE locktopus_abandoned_locks gauge\n"
            "locktopus_abandoned_locks 2\n"
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
                "locktopus_lock_hold_seconds_count 2\n"
                "# HELP locktopus_ha_role The server's role, one series per "
                "role: 1 for the role it has, 0 for the others (always "
                "serving without HA or --state-dir).\n"
                "# TYPE locktopus_ha_role gauge\n"
                "locktopus_ha_role{role=\"standby\"} 0\n"
                "locktopus_ha_role{role=\"grace\"} 1\n"
                "locktopus_ha_role{role=\"serving\"} 0\n"
                "# HELP locktopus_ha_takeovers_total Times this server became "
                "its HA group's active, by kind: clean (its predecessor handed "
                "over with no lock live, no grace), in_sync (it holds its "
                "predecessor's locks, no grace), degraded (its predecessor's "
                "locks are gone and it waits the grace).\n"
                "# TYPE locktopus_ha_takeovers_total counter\n"
                "locktopus_ha_takeovers_total{kind=\"clean\"} 0\n"
                "locktopus_ha_takeovers_total{kind=\"in_sync\"} 0\n"
                "locktopus_ha_takeovers_total{kind=\"degraded\"} 1\n"
                "# HELP locktopus_ha_in_sync_standbys Standbys the group's "
                "record names in sync with this active: each holds every lock "
                "its clients were told of (replication, --ha-peer-token-file); "
                "0 elsewhere.\n"
                "# TYPE locktopus_ha_in_sync_standbys gauge\n"
                "locktopus_ha_in_sync_standbys 0\n"
                "# HELP locktopus_ha_standbys_dropped_total Standbys this "
                "active took out of the in-sync set for leaving a change "
                "unacknowledged past --ha-ack-timeout-ms.\n"
                "# TYPE locktopus_ha_standbys_dropped_total counter\n"
                "locktopus_ha_standbys_dropped_total 0\n"
                "# HELP locktopus_ha_grace_remaining_seconds What is left of "
                "the grace after a takeover, or after an unclean stop with "
                "--state-dir, while acquisitions are held; 0 in every other "
                "role.\n"
                "# TYPE locktopus_ha_grace_remaining_seconds gauge\n"
                "locktopus_ha_grace_remaining_seconds 12.25\n"
                "# HELP locktopus_build_info The server's version, compiler "
                "and build type, as labels; always 1.\n"
                "# TYPE locktopus_build_info gauge\n"
                "locktopus_build_info{version=\"1.2.3\",compiler=\"GNU "
                "12.2.0\",build_type=\"Release\"} 1\n"
                "# HELP process_cpu_seconds_total Total user and system CPU "
                "time spent in seconds.\n"
                "# TYPE process_cpu_seconds_total counter\n"
                "process_cpu_seconds_total 1.23\n"
                "# HELP process_open_fds Number of open file descriptors.\n"
                "# TYPE process_open_fds gauge\n"
                "process_open_fds 17\n"
                "# HELP process_max_fds Maximum number of open file "
                "descriptors.\n"
                "# TYPE process_max_fds gauge\n"
                "process_max_fds 1024\n"
                "# HELP process_virtual_memory_bytes Virtual memory size in "
                "bytes.\n"
                "# TYPE process_virtual_memory_bytes gauge\n"
                "process_virtual_memory_bytes 65536000\n"
                "# HELP process_resident_memory_bytes Resident memory size in "
                "bytes.\n"
                "# TYPE process_resident_memory_bytes gauge\n"
                "process_resident_memory_bytes 8192000\n"
                "# HELP process_start_time_seconds Start time of the process "
                "since unix epoch in seconds.\n"
                "# TYPE process_start_time_seconds gauge\n"
                "process_start_time_seconds 1700000000.5\n");
}

// Where /proc cannot be read there is no process_* series; the others stay.
TEST(RenderPrometheus, NoProcessSeriesWithoutAProcessSample) {
  const ScrapeSample sample{.roles = kRoles, .role = "serving"};
  const std::string text = RenderPrometheus(Metrics(), sample);
  EXPECT_EQ(text.find("process_"), std::string::npos) << text;
  EXPECT_NE(text.find("locktopus_ha_role{role=\"serving\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("locktopus_ha_grace_remaining_seconds 0\n"),
            std::string::npos);
}

TEST(ProcessMetrics, ParsesProcStatPastACommandNameWithParentheses) {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
  // majflt cmajflt utime stime cutime cstime priority nice threads
  // itrealvalue starttime vsize rss ...
  const std::string_view text =
      "4242 (lock (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 123 77 5 6 20 "
      "0 3 0 555000 26542080 2177 18446744073709551615 1 1 0 0 0 0 0 4096 "
      "0 0 0 17 1 0 0 0 0 0\n";
  const std::optional<ProcStat> stat = ParseProcStat(text);
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->cpu_ticks, 200u);  // utime + stime, not the children's
  EXPECT_EQ(stat->start_ticks, 555000u);
  EXPECT_EQ(stat->virtual_bytes, 26542080u);
  EXPECT_EQ(stat->resident_pages, 2177u);
  EXPECT_EQ(ParseProcStat("4242 (short) S 1 2 3"), std::nullopt);
  EXPECT_EQ(ParseProcStat("no parenthesis"), std::nullopt);
}

TEST(ProcessMetrics, ConvertsUnits) {
  const ProcessSample sample =
      ToProcessSample({.cpu_ticks = 250,
                       .start_ticks = 1234,
                       .virtual_bytes = 99,
                       .resident_pages = 3},
                      100, 4096, 1'700'000'000'000'000'000);
  EXPECT_EQ(sample.cpu_nanos, 2'500'000'000u);
  EXPECT_EQ(sample.start_time_nanos, 1'700'000'012'340'000'000u);
  EXPECT_EQ(sample.resident_bytes, 3u * 4096);
  EXPECT_EQ(sample.virtual_bytes, 99u);
}

TEST(ProcessMetrics, ReadsThisProcess) {
  const std::optional<ProcessSample> sample = ReadProcessSample();
  ASSERT_TRUE(sample.has_value());
  EXPECT_GT(sample->resident_bytes, 0u);
  EXPECT_GE(sample->virtual_bytes, sample->resident_bytes);
  EXPECT_GT(sample->open_fds, 2u);  // stdin, stdout, stderr at least
  EXPECT_GE(sample->max_fds, sample->open_fds);
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto started = std::chrono::nanoseconds(sample->start_time_nanos);
  EXPECT_LE(started, now + seconds(2));
  EXPECT_GT(started, now - std::chrono::hours(1));
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
