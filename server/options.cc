#include "server/options.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <type_traits>

#include "server/core/shard.h"
#include "util/cli_number.h"
#include "util/version.h"

namespace locktopus::server {
namespace {

// Longest keep-alive interval and handshake timeout: one hour.
constexpr std::uint64_t kMaxTimeoutMs = 3'600'000;
// The largest abandon timeout by default in HA mode and with --state-dir,
// where a failover or a crash waits that long (plus a little) before
// granting: the default abandon timeout itself.
constexpr std::uint64_t kDurableMaxAbandonMs = 60'000;

// The default --max-lock-memory's ceiling.
constexpr std::uint64_t kMaxDefaultLockMemory = std::uint64_t{1} << 30;

// The values an integer flag takes: its type's, unless narrowed.
struct Bounds {
  std::uint64_t low = 0;
  std::uint64_t high = std::numeric_limits<std::uint64_t>::max();
};

}  // namespace

std::uint64_t DefaultLockMemory() {
  std::uint64_t memory = std::numeric_limits<std::uint64_t>::max();
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page_size > 0) {
    memory = static_cast<std::uint64_t>(pages) *
             static_cast<std::uint64_t>(page_size);
  }
  // A container's limit (cgroup v2), when lower: "max" or a byte count.
  std::ifstream cgroup("/sys/fs/cgroup/memory.max");
  std::uint64_t limit = 0;
  if (cgroup >> limit && limit > 0) memory = std::min(memory, limit);
  return std::min(kMaxDefaultLockMemory, memory / 4);
}

std::variant<Config, int> ParseOptions(int argc, const char* const* argv) {
  Config o;
  CLI::App app{"Locktopus: a lock server for distributed systems", "locktopus"};
  app.get_formatter()->column_width(36);
  app.set_version_flag("--version", "locktopus " + std::string(kVersion),
                       "Print the version and exit");

  // Every option may also come from LOCKTOPUS_<NAME>. An integer one takes
  // the values of `bounds` that its type holds, and a value out of them is
  // refused naming the range (NumberIn): CLI11 alone would wrap "-5" into a
  // huge unsigned value.
  auto add = [&app](const std::string& names, auto& value,
                    const std::string& env, const std::string& help,
                    Bounds bounds = {}) {
    CLI::Option* option = app.add_option(names, value, help)
                              ->envname("LOCKTOPUS_" + env)
                              ->capture_default_str();
    using T = std::decay_t<decltype(value)>;
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      option->check(
          NumberIn<T>(static_cast<T>(bounds.low),
                      static_cast<T>(std::min<std::uint64_t>(
                          bounds.high, std::numeric_limits<T>::max()))));
    }
    return option;
  };
  add("-H,--host", o.host, "HOST", "Hostname or address to listen on");
  add("-p,--port", o.port, "PORT", "Port to listen on (0: any free port)");
  add("--port-file", o.port_file, "PORT_FILE",
      "Once listening, write the port to FILE (for scripts that start the "
      "server with port 0)");
  add("--log-clients", o.log_clients, "LOG_CLIENTS",
      "Log client connections (true/false)");
  add("--log-locks", o.log_locks, "LOG_LOCKS",
      "Log every lock request, acquisition and release (true/false)");
  add("--stats-interval", o.stats_interval_s, "STATS_INTERVAL",
      "Log each namespace's statistics every N seconds (0: never)");
  add("--default-abandon-timeout", o.default_abandon_timeout_ms,
      "DEFAULT_ABANDON_TIMEOUT",
      "Milliseconds an acquired lock outlives its dropped connection, "
      "unless the client asks otherwise");
  add("--threads", o.threads, "THREADS", "I/O threads (0: one per core)");
  add("--max-connections", o.max_connections, "MAX_CONNECTIONS",
      "Open WebSocket connections at most; more are refused with 503",
      {.low = 1});
  add("--max-sessions", o.max_sessions, "MAX_SESSIONS",
      "Resumable sessions at most, attached or detached (each keeps its lock "
      "for its abandon timeout after its connection drops); more "
      "session=new connections are refused with 503",
      {.low = 1});
  add("--metrics-namespace-labels", o.metrics_namespace_labels,
      "METRICS_NAMESPACE_LABELS",
      "Also serve per-namespace lock series on /metrics, labelled with the "
      "namespace (one set per namespace ever opened) (true/false)");
  add("--keepalive-ms", o.keepalive_ms, "KEEPALIVE_MS",
      "Ping a WebSocket peer silent this long; drop it when silent twice "
      "as long",
      {.low = 1, .high = kMaxTimeoutMs});
  add("--handshake-timeout-ms", o.handshake_timeout_ms, "HANDSHAKE_TIMEOUT_MS",
      "Time limit of reading an HTTP request and of the WebSocket opening "
      "and closing handshakes",
      {.low = 1, .high = kMaxTimeoutMs});
  add("--max-write-queue", o.max_write_queue, "MAX_WRITE_QUEUE",
      "Answers queued for one client; at the limit its requests are not "
      "read until half are sent, and it is closed if it reads none",
      {.low = 1});
  add("--auth-token-file", o.auth_token_file, "AUTH_TOKEN_FILE",
      "Require a bearer token listed in FILE (one per line; SIGHUP "
      "reloads it) on every request but /healthz and /readyz");
  add("--tls-cert", o.tls_cert, "TLS_CERT",
      "Serve https:// and wss:// only (TLS 1.2+), with the PEM certificate "
      "chain in FILE; needs --tls-key");
  add("--tls-key", o.tls_key, "TLS_KEY",
      "The PEM private key of --tls-cert; needs --tls-cert");
  CLI::Option* max_abandon =
      add("--max-abandon-timeout", o.route_limits.max_abandon_timeout_ms,
          "MAX_ABANDON_TIMEOUT",
          "Largest abandon-timeout-ms a client may ask for (default 60000 "
          "with --etcd-endpoints or --state-dir: the grace after a failover "
          "or a crash lasts that long)");
  add("--etcd-endpoints", o.etcd_endpoints, "ETCD_ENDPOINTS",
      "HA mode: the client URLs of the etcd cluster that elects this "
      "group's active server (http://HOST:PORT,...)");
  add("--ha-group", o.ha_group, "HA_GROUP",
      "HA mode: the group this server serves; servers of one group form one "
      "active/standby set")
      ->check([](const std::string& group) {
        return IsGroupName(group) ? std::string() : std::string(kBadGroupName);
      });
  add("--ha-groups", o.ha_groups, "HA_GROUPS",
      "Every group of the cluster, in the order HAProxy's configuration "
      "lists them (NAME,NAME,...; default: --ha-group alone). A namespace "
      "belongs to the group at CRC-32(namespace) mod their number; a "
      "request for another group's namespace is refused with 421");
  app.add_flag("--ha-init", o.ha_init,
               "HA mode: write the cluster's shard map (--ha-groups) and a "
               "record for every group that has none to etcd, then exit. "
               "Servers refuse to serve a group without a record");
  app.add_flag("--ha-new-cluster", o.ha_new_cluster,
               "With --ha-init: the cluster never served (etcd holds none "
               "of its keys), so its first actives need not wait a grace");
  add("--ha-ttl-ms", o.ha_ttl_ms, "HA_TTL_MS",
      "HA mode: the lease TTL; an active that cannot confirm its leadership "
      "for four fifths of it stops granting and closes its connections",
      {.low = 1000, .high = kMaxTimeoutMs});
  add("--ha-peer-token-file", o.ha_peer_token_file, "HA_PEER_TOKEN_FILE",
      "HA mode: replicate every lock to the group's standbys, so that a "
      "failover keeps them and waits no grace. FILE holds the group's peer "
      "token (one line, at least 32 characters), the same on every server "
      "of the group and known to no client");
  add("--ha-ack-timeout-ms", o.ha_ack_timeout_ms, "HA_ACK_TIMEOUT_MS",
      "HA mode with replication: a standby that leaves a change "
      "unacknowledged this long is taken out of the in-sync set, and the "
      "active goes on alone",
      {.low = 10, .high = kMaxTimeoutMs});
  add("--state-dir", o.state_dir, "STATE_DIR",
      "Standalone: keep the lock-ID ceiling in DIR so that IDs never go back "
      "across restarts (and grant nothing for a grace after a crash)");
  add("--max-namespace-bytes", o.route_limits.max_namespace_bytes,
      "MAX_NAMESPACE_BYTES", "Longest namespace name", {.low = 1});
  add("--max-message-bytes", o.message_limits.max_message_bytes,
      "MAX_MESSAGE_BYTES", "Largest client message", {.low = 1});
  add("--max-resources", o.message_limits.max_resources, "MAX_RESOURCES",
      "Most resources in one lock", {.low = 1});
  add("--max-path-depth", o.message_limits.max_path_depth, "MAX_PATH_DEPTH",
      "Most segments in one path");
  o.max_lock_memory = DefaultLockMemory();
  app.add_option("--max-lock-memory", o.max_lock_memory,
                 "Heap bytes the locks of every namespace may take together "
                 "(suffixes k, M, G: powers of 1000; Ki, Mi, Gi: of 1024); a "
                 "lock that would go over is refused, close code 1013. "
                 "Default: a quarter of the machine's (or container's) "
                 "memory, at most 1 GiB")
      ->envname("LOCKTOPUS_MAX_LOCK_MEMORY")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(true))
      ->check(NumberIn<std::uint64_t>(1));
  add("--max-segment-bytes", o.message_limits.max_segment_bytes,
      "MAX_SEGMENT_BYTES", "Longest path segment");
  add("--max-lock-segments", o.message_limits.max_lock_segments,
      "MAX_LOCK_SEGMENTS",
      "Most path segments in one lock, all its resources together");

  try {
    app.parse(argc, argv);
    const bool durable = !o.etcd_endpoints.empty() || !o.state_dir.empty();
    if (durable && max_abandon->count() == 0 &&
        std::getenv("LOCKTOPUS_MAX_ABANDON_TIMEOUT") == nullptr) {
      o.route_limits.max_abandon_timeout_ms = kDurableMaxAbandonMs;
    }
    if (!o.etcd_endpoints.empty() && !o.state_dir.empty()) {
      throw CLI::ValidationError(
          "--state-dir",
          "is for a standalone server; with --etcd-endpoints "
          "the group's record lives in etcd");
    }
    if (auto map = ShardMap::Make(o.ha_groups, o.ha_group); !map.ok()) {
      throw CLI::ValidationError("--ha-groups", map.error().message);
    }
    if (o.ha_init && o.etcd_endpoints.empty()) {
      throw CLI::ValidationError("--ha-init", "needs --etcd-endpoints");
    }
    if (!o.ha_peer_token_file.empty() && o.etcd_endpoints.empty()) {
      throw CLI::ValidationError("--ha-peer-token-file",
                                 "needs --etcd-endpoints");
    }
    if (o.ha_ack_timeout_ms * 2 > o.ha_ttl_ms) {
      throw CLI::ValidationError(
          "--ha-ack-timeout-ms",
          "must be at most half of --ha-ttl-ms (" +
              std::to_string(o.ha_ttl_ms) +
              "): a standby is dropped well before the leadership lapses");
    }
    if (o.ha_new_cluster && !o.ha_init) {
      throw CLI::ValidationError("--ha-new-cluster", "needs --ha-init");
    }
    if (o.default_abandon_timeout_ms > o.route_limits.max_abandon_timeout_ms) {
      throw CLI::ValidationError(
          "--default-abandon-timeout",
          "must not be over --max-abandon-timeout (" +
              std::to_string(o.route_limits.max_abandon_timeout_ms) + ")");
    }
    if (o.tls_cert.empty() != o.tls_key.empty()) {
      const bool cert = !o.tls_cert.empty();
      throw CLI::ValidationError(cert ? "--tls-cert" : "--tls-key",
                                 std::string("needs ") +
                                     (cert ? "--tls-key" : "--tls-cert") +
                                     " too (give both or neither)");
    }
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "locktopus: " << e.what() << "\n"
              << "Run with --help for the options.\n";
    return 2;
  }
  return o;
}

}  // namespace locktopus::server
