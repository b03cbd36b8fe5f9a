#include "server/core/server_state.h"

#include <vector>

namespace locktopus::server {

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
