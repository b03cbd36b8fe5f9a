// What the replication tests share: the active's lock state read back in
// the replica's terms (server/core/ha/replication.h), so that the two can
// be compared whole, and a follower that applies a log up to its end.

#ifndef LOCKTOPUS_TESTS_REPLICATION_SUPPORT_H_
#define LOCKTOPUS_TESTS_REPLICATION_SUPPORT_H_

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "server/core/ha/replication.h"
#include "server/core/lock_service.h"

namespace locktopus::testing {

// Whom each lock of each namespace was requested for, as the test knows.
using Owners = std::map<std::pair<std::string, LockId>, server::ha::Owner>;

// Every namespace of `service` with live locks, in name order, as a replica
// reports its own (Replica::Spaces): each live lock's ID, resources and
// state from the engine, its owner from `owners`, and the last ID.
inline std::vector<server::ha::Replica::Space> ActiveSpaces(
    const server::LockService& service, const Owners& owners) {
  std::vector<server::ha::Replica::Space> spaces;
  service.ForEach([&](const server::Namespace& ns) {
    const Stats stats = ns.GetStats();
    if (stats.locks_pending + stats.locks_acquired == 0) return;
    server::ha::Replica::Space space{.name = ns.name(),
                                     .last_id = stats.last_id};
    const Inspection inspection = ns.Inspect(
        {.limit = std::numeric_limits<std::size_t>::max(), .max_blockers = 0});
    for (const LockInfo& lock : inspection.locks) {
      auto owner = owners.find({ns.name(), lock.id});
      space.locks.push_back({.id = lock.id,
                             .resources = lock.resources,
                             .state = lock.state,
                             .owner = owner == owners.end()
                                          ? server::ha::Owner{}
                                          : owner->second});
    }
    spaces.push_back(std::move(space));
  });
  return spaces;
}

// Applies everything `log` holds past `replica`'s position, in order, or
// loads a snapshot if the log was trimmed past it. Returns the first
// outcome that was not kApplied (kApplied if every one was).
inline server::ha::Replica::Outcome CatchUp(const server::ha::ChangeLog& log,
                                            server::ha::Replica& replica) {
  using Outcome = server::ha::Replica::Outcome;
  while (replica.Applied() < log.last()) {
    const auto changes = log.From(replica.Applied() + 1);
    if (!changes) {
      if (!replica.Load(log.Snapshot()).ok()) return Outcome::kDiverged;
      continue;
    }
    server::ha::Position position = replica.Applied();
    for (const server::ha::Change& change : *changes) {
      const Outcome outcome = replica.Apply(++position, change);
      if (outcome != Outcome::kApplied) return outcome;
    }
  }
  return Outcome::kApplied;
}

}  // namespace locktopus::testing

#endif  // LOCKTOPUS_TESTS_REPLICATION_SUPPORT_H_
