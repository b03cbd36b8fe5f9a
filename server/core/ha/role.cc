#include "server/core/ha/role.h"

namespace locktopus::server::ha {

Role StartGranting(const GrantStart& start, Time now, GrantGate& gate,
                   NodeIo& io) {
  io.SetIdFloor(start.floor);
  gate.SetCeiling(start.ceiling, start.block);
  const bool grace = now < start.grace_until;
  gate.Enter(grace ? GrantGate::Phase::kGrace : GrantGate::Phase::kOpen,
             start.grace_until, start.grant_until);
  return grace ? Role::kGrace : Role::kServing;
}

}  // namespace locktopus::server::ha
