#include "server/core/server_state.h"

namespace locktopus::server {

std::unique_ptr<ConnectionSlot> ConnectionSlot::Take(
    std::shared_ptr<ServerState> state) {
  if (state->connections.fetch_add(1) >= state->config.max_connections) {
    state->connections.fetch_sub(1);
    return nullptr;
  }
  return std::unique_ptr<ConnectionSlot>(new ConnectionSlot(std::move(state)));
}

}  // namespace locktopus::server
