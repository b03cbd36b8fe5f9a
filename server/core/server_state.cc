#include "server/core/server_state.h"

#include <algorithm>
#include <vector>

namespace locktopus::server {

ha::Clock::duration GraceLeft(const ServerState& state, ha::Time now) {
  if (state.role.load() != ha::Role::kGrace || state.gate == nullptr) {
    return ha::Clock::duration::zero();
  }
  return std::max(state.gate->grace_until() - now, ha::Clock::duration::zero());
}

std::string ServingText(const ServerState& state, ha::Time now) {
  if (state.role.load() != ha::Role::kGrace) return "serving";
  const auto left =
      std::chrono::ceil<std::chrono::seconds>(GraceLeft(state, now));
  return "grace: " + std::to_string(left.count()) + " s left";
}

std::unique_ptr<ConnectionSlot> ConnectionSlot::Take(
    std::shared_ptr<ServerState> state) {
  if (state->connections.fetch_add(1) >= state->config.max_connections) {
    state->connections.fetch_sub(1);
    return nullptr;
  }
  return std::unique_ptr<ConnectionSlot>(new ConnectionSlot(std::move(state)));
}

SessionRegistry::Token SessionRegistry::Add(std::weak_ptr<Closable> session) {
  MutexLock lock(mu_);
  return sessions_.insert(sessions_.end(), std::move(session));
}

void SessionRegistry::Remove(Token token) {
  MutexLock lock(mu_);
  sessions_.erase(token);
}

std::size_t SessionRegistry::CloseAll(std::uint16_t code,
                                      const std::string& reason) {
  std::vector<std::shared_ptr<Closable>> open;
  {
    MutexLock lock(mu_);
    for (const auto& weak : sessions_) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
  }
  for (const auto& session : open) session->CloseSoon(code, reason);
  return open.size();
}

}  // namespace locktopus::server
