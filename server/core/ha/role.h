// A server's role, and what every role logic shares: the HA role in an
// etcd-elected group (node.h) and the standalone role over --state-dir
// (standalone.h). Both keep the GrantGate (gate.h) and are driven through
// NodeIo; the server runs whichever it has on one strand
// (server/net/ha.h). A server with neither is always serving and
// has no gate.

#ifndef LOCKTOPUS_SERVER_CORE_HA_ROLE_H_
#define LOCKTOPUS_SERVER_CORE_HA_ROLE_H_

#include <array>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "engine/types.h"
#include "server/core/ha/gate.h"
#include "server/core/metrics.h"

namespace locktopus::server::ha {

enum class Role { kStandby, kGrace, kServing, kFenced, kResigned };

// Every role's name, in the enumerators' order: what /readyz, the logs,
// the dashboard and locktopus_ha_role call it.
inline constexpr std::array<std::string_view, 5> kRoleNames = {
    "standby", "grace", "serving", "fenced", "resigned"};

inline std::string_view Name(Role role) {
  return kRoleNames[static_cast<std::size_t>(role)];
}

// Grace and serving take clients; the others refuse them.
inline bool TakesClients(Role role) {
  return role == Role::kGrace || role == Role::kServing;
}

// What a role logic needs of the world beyond its durable record.
class NodeIo {
 public:
  virtual ~NodeIo() = default;
  virtual Time Now() = 0;
  // The wall clock, for the floor of a takeover (cluster.h).
  virtual std::chrono::system_clock::time_point WallNow() = 0;
  // Runs `fn` once after `delay`, on the role's executor.
  virtual void After(Clock::duration delay, std::function<void()> fn) = 0;
  // Every namespace opened from now on starts its IDs above `floor`.
  virtual void SetIdFloor(LockId floor) = 0;
  // The one writer of the server's role (/readyz, the upgrade refusal of a
  // standby), which also logs why.
  virtual void RoleChanged(Role role, const std::string& why) = 0;
  // This server became its group's active (HA only), after a `kind` of
  // takeover: counted in /metrics.
  virtual void TookOver(Takeover kind) { (void)kind; }
  // Replication (HA only; replicator.h). A standby saw `name` lead the group
  // at `epoch` (its election revision): follow it.
  virtual void Leader(const std::string& name, std::int64_t epoch) {
    (void)name, (void)epoch;
  }
  // This server is elected: stop applying and acknowledging changes, for
  // good, before anything else happens.
  virtual void Elected() {}
  // Whether this server holds a whole replica of the active of `epoch`,
  // up to where it stopped (Elected).
  virtual bool HasReplica(std::int64_t epoch) {
    (void)epoch;
    return false;
  }
  // Serve from that replica: its locks and sessions become this server's,
  // every window and abandon timer restarted now and lengthened by
  // `extend`. Called after the takeover's record write, before any grant.
  // Returns why it could not be done (then the server must not serve), or
  // nothing.
  virtual std::string AdoptReplica(std::chrono::milliseconds extend) {
    (void)extend;
    return {};
  }
  // Something an operator must hear of that changes no role (a failed
  // durable write that will be tried again).
  virtual void Warn(const std::string& what) { (void)what; }
  // Leadership is lost or cannot be proved: close every connection, then
  // stop. Called once.
  virtual void Fence(const std::string& why) = 0;
  // Resign finished: `clean` if the record now says so.
  virtual void Resigned(bool clean) = 0;
};

// The calls the server makes of its role logic, on the role's executor.
class RoleLogic {
 public:
  virtual ~RoleLogic() = default;
  // Begins: campaigns (HA), or starts granting (standalone).
  virtual void Start() = 0;
  // The gate saw an ID at or above the middle of the block: raise the
  // durable ceiling by a block.
  virtual void RaiseCeiling() = 0;
  // Shutdown. The gate closes first; then `idle` is asked whether no lock
  // is live, and only then may the record say clean (the successor skips
  // the grace): a lock granted after the answer is impossible by
  // construction, which a look before the gate closed could not promise.
  // A null `idle`: not clean. NodeIo::Resigned follows.
  virtual void Resign(const std::function<bool()>& idle) = 0;
};

// Where a role starts granting: after a takeover (HA) or at a start over
// --state-dir.
struct GrantStart {
  LockId floor = 0;    // every namespace starts its IDs above it
  LockId ceiling = 0;  // the durable ceiling: no ID above it is announced
  LockId block = 0;    // the raise's step; one is asked for at its middle
  Time grace_until;    // acquisitions are held until then
  Time grant_until;    // and none is granted from then on
};

// Sets the namespaces' floor and the gate's ceiling, then opens the gate:
// in grace if `start.grace_until` is after `now`, else open. Returns the
// role that follows: kGrace or kServing (the caller says so, and ends the
// grace at grace_until).
Role StartGranting(const GrantStart& start, Time now, GrantGate& gate,
                   NodeIo& io);

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_ROLE_H_
