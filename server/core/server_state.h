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
#include <memory>

#include "server/core/auth.h"
#include "server/core/config.h"
#include "server/core/lock_service.h"
#include "server/core/metrics.h"

namespace locktopus::server {

struct ServerState {
  explicit ServerState(Config c) : config(std::move(c)) {}

  const Config config;
  const std::shared_ptr<LockService> locks =
      std::make_shared<LockService>(config.max_lock_memory);
  std::atomic<std::size_t> connections{0};  // open WebSocket connections
  std::atomic<std::uint64_t> next_client{0};
  std::atomic<bool> draining{false};  // shutting down: refuse new clients
  Metrics metrics{config.metrics_namespace_labels};  // served on /metrics
  // Set before the first connection is accepted when --auth-token-file is
  // given; null otherwise.
  std::unique_ptr<Authenticator> auth;
};

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
