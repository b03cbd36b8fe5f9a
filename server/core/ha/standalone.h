// The role of a standalone server with --state-dir (state_dir.h): its
// fencing tokens never go back across restarts, and after an unclean stop
// it grants nothing for a grace, as a new HA active does (node.h). Free of
// sockets, like Node, and driven the same way (role.h).
//
//   start     IDs above the recorded ceiling; the next ceiling is written
//             before Start. The gate opens at once after a clean stop, else
//             after the grace (acquisitions are held meanwhile).
//   serving   grant; raise the ceiling when an ID reaches the middle of the
//             block (a failed write is tried again every second, and
//             nothing above the ceiling is announced meanwhile).
//   resigned  shutdown: the gate closes; then, past the grace and with no
//             lock live, the record says clean and the next start skips the
//             grace.
//
// The window never ends: no one else can take this server's IDs over.
//
// Thread safety: not thread-safe; every call and timer on one executor.
// The gate is read from any thread.

#ifndef LOCKTOPUS_SERVER_CORE_HA_STANDALONE_H_
#define LOCKTOPUS_SERVER_CORE_HA_STANDALONE_H_

#include <functional>
#include <memory>

#include "server/core/ha/gate.h"
#include "server/core/ha/role.h"
#include "server/core/ha/state_dir.h"

namespace locktopus::server::ha {

class StandaloneRole final : public RoleLogic {
 public:
  // How long a failed raise waits before it is tried again.
  static constexpr std::chrono::seconds kRaiseRetry{1};

  StandaloneRole(std::unique_ptr<StateDir> dir, NodeIo& io, GrantGate& gate);

  void Start() override;
  void RaiseCeiling() override;
  void Resign(const std::function<bool()>& idle) override;

  Role role() const { return role_; }

 private:
  void EndGrace();
  void SetRole(Role role, const std::string& why);

  const std::unique_ptr<StateDir> dir_;
  NodeIo& io_;
  GrantGate& gate_;
  Role role_ = Role::kStandby;
};

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_STANDALONE_H_
