// What every connection of one server shares: its settings, its namespaces,
// its counters and its token list. Socket-free: the network shell
// (server/net/) and the request handler (handler.h) both work on it.
//
// Thread safety: the members are either const after start, atomics, or
// thread-safe themselves (LockService, Metrics, Authenticator).

#ifndef LOCKTOPUS_SERVER_CORE_SERVER_STATE_H_
#define LOCKTOPUS_SERVER_CORE_SERVER_STATE_H_

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <set>
#include <string>

#include "server/core/auth.h"
#include "server/core/config.h"
#include "server/core/ha/commit_gate.h"
#include "server/core/ha/gate.h"
#include "server/core/ha/replication.h"
#include "server/core/ha/role.h"
#include "server/core/lock_service.h"
#include "server/core/metrics.h"
#include "server/core/session.h"
#include "server/core/shard.h"

namespace locktopus::server {

// Something that can be closed from any thread: a WebSocket session.
class Closable {
 public:
  virtual ~Closable() = default;
  // Closes with `code` and `reason` soon, on the session's own strand.
  virtual void CloseSoon(std::uint16_t code, std::string reason) = 0;
};

// The open sessions. Each adds itself once open and removes itself when it
// ends.
class SessionRegistry {
 public:
  using Token = std::list<std::weak_ptr<Closable>>::iterator;
  Token Add(std::weak_ptr<Closable> session) EXCLUDES(mu_);
  void Remove(Token token) EXCLUDES(mu_);
  // Closes every session open now; returns how many.
  std::size_t CloseAll(std::uint16_t code, const std::string& reason)
      EXCLUDES(mu_);

 private:
  Mutex mu_;
  std::list<std::weak_ptr<Closable>> sessions_ GUARDED_BY(mu_);
};

// Which unknown query parameter names have been logged: each once, up to
// kMaxLogged names, so that a client cannot fill the log or the memory.
class UnknownParams {
 public:
  static constexpr std::size_t kMaxLogged = 64;
  // Whether `name` is new (and so to be logged).
  bool First(const std::string& name) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (seen_.size() >= kMaxLogged) return false;
    return seen_.insert(name).second;
  }

 private:
  Mutex mu_;
  std::set<std::string> seen_ GUARDED_BY(mu_);
};

// What the network shell puts here to take the replication streams that
// standbys open (server/net/replication.h); the handler only passes them on.
class ReplicationPort {
 public:
  virtual ~ReplicationPort() = default;
};

struct ServerState {
  explicit ServerState(Config c) : config(std::move(c)) {}

  const Config config;
  // Which namespaces are this server's (ParseOptions checked the map).
  const ShardMap shard =
      ShardMap::Make(config.ha_groups, config.ha_group).value();
  // With replication (Config::replicates): every change of lock state, in
  // order, for the standbys; null otherwise.
  const std::unique_ptr<ha::ChangeLog> change_log =
      config.replicates() ? std::make_unique<ha::ChangeLog>() : nullptr;
  const std::shared_ptr<LockService> locks =
      std::make_shared<LockService>(config.max_lock_memory, change_log.get());
  // With replication: what holds every frame to a client until the changes
  // behind it are held by the standbys the active waits for.
  const std::unique_ptr<ha::CommitGate> commit =
      change_log ? std::make_unique<ha::CommitGate>(
                       [log = change_log.get()] { return log->last(); })
                 : nullptr;
  // With replication: the group's peer token (--ha-peer-token-file), which
  // standbys present; and the streams' owner. Set before the first
  // connection is accepted.
  std::string peer_token;
  std::shared_ptr<ReplicationPort> replication;
  std::atomic<std::size_t> connections{0};  // open WebSocket connections
  std::atomic<std::uint64_t> next_client{0};
  std::atomic<bool> draining{false};  // shutting down: refuse new clients
  Metrics metrics{config.metrics_namespace_labels};  // served on /metrics
  // Set before the first connection is accepted when --auth-token-file is
  // given; null otherwise.
  std::unique_ptr<Authenticator> auth;
  // In HA mode or with --state-dir: what every connection asks before it
  // announces an acquisition (ha/gate.h); null otherwise. Set before the
  // first connection is accepted.
  std::unique_ptr<ha::GrantGate> gate;
  // The HA role: WebSocket upgrades are refused (503) and /readyz is 503
  // unless it takes clients. Always serving outside HA mode.
  std::atomic<ha::Role> role{ha::Role::kServing};
  // Every open WebSocket session, so that a fenced server closes them all.
  SessionRegistry sessions;
  // The resumable sessions (session.h).
  const std::shared_ptr<SessionTable> client_sessions =
      std::make_shared<SessionTable>(config.max_sessions, &metrics,
                                     change_log.get());
  // The unknown /v1 query parameters logged so far (each name once).
  UnknownParams unknown_params;
};

// How much of the grace (ha/gate.h) is left at `now`: until the gate's
// grace_until while the role is grace; zero in every other role, and once
// it has passed.
ha::Clock::duration GraceLeft(const ServerState& state, ha::Time now);

// What a server that takes clients is doing, as /readyz's 200 and the
// dashboard say it: "serving", or "grace: N s left" (N rounded up).
std::string ServingText(const ServerState& state, ha::Time now);

// Holds one of the --max-connections places while it lives. Owns a share of
// the state it counts in, so it can never outlive it.
class ConnectionSlot {
 public:
  // Takes a place; returns nullptr when all are taken.
  static std::unique_ptr<ConnectionSlot> Take(
      std::shared_ptr<ServerState> state);
  ~ConnectionSlot() { state_->connections.fetch_sub(1); }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

 private:
  explicit ConnectionSlot(std::shared_ptr<ServerState> state)
      : state_(std::move(state)) {}
  const std::shared_ptr<ServerState> state_;
};

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_SERVER_STATE_H_
