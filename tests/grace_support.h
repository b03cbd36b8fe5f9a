// Puts a server's state in the grace after a takeover, as the role logic
// does (ha/role.h's StartGranting, then the role it returns): for the tests
// of what /readyz, the dashboard and /metrics say of it.

#ifndef LOCKTOPUS_TESTS_GRACE_SUPPORT_H_
#define LOCKTOPUS_TESTS_GRACE_SUPPORT_H_

#include <chrono>
#include <memory>

#include "server/core/ha/gate.h"
#include "server/core/server_state.h"

namespace locktopus::testing {

// A gate in grace until `left` after now, with an hour of window, and the
// role grace. Returns that now.
inline server::ha::Time EnterGrace(server::ServerState& state,
                                   server::ha::Clock::duration left) {
  namespace ha = server::ha;
  state.gate = std::make_unique<ha::GrantGate>();
  const ha::Time now = ha::Clock::now();
  state.gate->Enter(ha::GrantGate::Phase::kGrace, now + left,
                    now + std::chrono::hours(1));
  state.role = ha::Role::kGrace;
  return now;
}

}  // namespace locktopus::testing

#endif  // LOCKTOPUS_TESTS_GRACE_SUPPORT_H_
