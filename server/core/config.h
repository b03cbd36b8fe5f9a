// The server's settings, as the command line and the environment give them
// (server/options.h parses them). Plain values.

#ifndef LOCKTOPUS_SERVER_CORE_CONFIG_H_
#define LOCKTOPUS_SERVER_CORE_CONFIG_H_

#include <cstdint>
#include <string>

#include "server/core/routes.h"
#include "wire/codec.h"

namespace locktopus::server {

struct Config {
  std::string host = "0.0.0.0";
  std::uint16_t port = 9009;  // 0: any free port (logged at start)
  // Once listening, the port is written to this file (empty: nowhere).
  std::string port_file;
  bool log_clients = false;
  bool log_locks = false;
  unsigned stats_interval_s = 0;  // 0: never
  std::uint64_t default_abandon_timeout_ms = 60'000;
  unsigned threads = 0;  // 0: one per core
  std::size_t max_connections = 100'000;
  // Resumable sessions live at once, attached or detached; more
  // `session=new` upgrades are refused with 503.
  std::size_t max_sessions = 100'000;
  bool metrics_namespace_labels = false;  // per-namespace series in /metrics
  // A WebSocket peer silent this long is pinged; silent twice this long, it
  // is dropped (its lock abandoned).
  std::uint64_t keepalive_ms = 10'000;
  // Bound of reading one HTTP request (headers and body), of the WebSocket
  // opening handshake, and of a WebSocket closing handshake.
  std::uint64_t handshake_timeout_ms = 10'000;
  // Answers waiting to be sent to one client. At the limit the server stops
  // reading its requests until half are sent; a client that reads none of
  // them for keepalive_ms is closed with code 1008. While reading is paused
  // the client's pongs are not read either, so a pause that outlasts the
  // keep-alive (one to two keepalive_ms) drops the client even if it reads.
  std::size_t max_write_queue = 1024;
  // Bearer tokens, one per line; empty: no authentication. SIGHUP reloads.
  std::string auth_token_file;
  // PEM certificate chain and private key; both or neither. Given, every
  // connection is TLS 1.2 or later (https://, wss://).
  std::string tls_cert;
  std::string tls_key;
  // Heap bytes that the lock state of every namespace together may take
  // (nodes, entries, locks, indexes); a lock that would go over is refused
  // with close code 1013. ParseOptions resolves the default from the
  // machine (DefaultLockMemory).
  std::uint64_t max_lock_memory = std::uint64_t{1} << 30;
  wire::MessageLimits message_limits;
  RouteLimits route_limits;
  // HA mode when not empty: etcd's client URLs, comma-separated.
  std::string etcd_endpoints;
  std::string ha_group = "default";
  // Every group, in routing order, comma-separated (shard.h); empty: this
  // server's group alone.
  std::string ha_groups;
  // Initialise the cluster's records in etcd (--ha-init), then exit.
  bool ha_init = false;
  // With ha_init: the operator's word that the cluster never served.
  bool ha_new_cluster = false;
  std::uint64_t ha_ttl_ms = 5000;
  // Replication to the group's standbys (docs/ha.md, Replication): the file
  // holding the group's peer token, which standbys present to the active;
  // empty: replication off, and every failover waits the grace.
  std::string ha_peer_token_file;
  // How long the active waits for a standby's acknowledgement before it
  // removes the standby from the in-sync set and goes on alone.
  std::uint64_t ha_ack_timeout_ms = 500;
  // Standalone durability: the ID ceiling and the clean-stop mark live here.
  std::string state_dir;

  bool tls() const { return !tls_cert.empty(); }
  bool ha() const { return !etcd_endpoints.empty(); }
  bool replicates() const { return ha() && !ha_peer_token_file.empty(); }
};

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_CONFIG_H_
