// The keys that every group of an HA cluster keeps in one etcd, and the
// explicit initialisation that creates them (--ha-init):
//
//   /locktopus/map            the shard map: every group, in routing order
//                             (shard.h), as --ha-groups spells it
//   /locktopus/G/record       group G's durable record (record.h)
//   /locktopus/G/election/…   group G's candidacies (node.h)
//
// A server serves only if the map equals its own --ha-groups and its
// group's record exists: a missing record is never taken for a fresh group,
// since a fresh start would issue IDs from 1 again and skip the grace that
// the last active's clients need. Only --ha-init writes the map (every
// server stopped) or creates a record (its group's servers stopped). When
// the map changes it raises every record to the highest ceiling of *every*
// group, so a namespace that moves to another group never sees its IDs go
// back; and every --ha-init takes the clean mark of stopped groups away.
//
// Thread safety: plain values and pure functions.

#ifndef LOCKTOPUS_SERVER_CORE_HA_CLUSTER_H_
#define LOCKTOPUS_SERVER_CORE_HA_CLUSTER_H_

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/core/ha/etcd.h"
#include "server/core/ha/record.h"
#include "util/result.h"

namespace locktopus::server::ha {

inline constexpr std::string_view kRoot = "/locktopus/";
std::string MapKey();
std::string GroupPrefix(std::string_view group);
std::string RecordKey(std::string_view group);
// The map as /locktopus/map holds it, and as --ha-groups spells it: the
// groups in routing order, comma-separated.
std::string MapText(const std::vector<std::string>& groups);

// What the keys under kRoot say.
struct ClusterView {
  std::optional<std::string> map;
  Revision map_revision = 0;  // the map key's create revision; 0: none
  std::map<std::string, Record, std::less<>> records;  // by group
  std::vector<std::string> unreadable;   // record keys that do not decode
  std::vector<std::string> campaigning;  // groups with a candidacy key

  // The highest ceiling of every group's record (0: none).
  LockId MaxCeiling() const;
};
ClusterView ReadCluster(const std::vector<KeyValue>& keys);

// The wall-clock floor: 2048 IDs per millisecond of `now` since 2026-01-01
// UTC. Every takeover starts above it, and so does every record that
// --ha-init creates. A group issues far fewer IDs than that (a server
// grants some tens per millisecond) and raises its ceiling by blocks of
// 1024 ms of this line (node.h), so its ceiling stays within a few blocks
// of the line: a record lost (deleted, etcd rebuilt) or rolled back (etcd
// restored from a snapshot) more than a few seconds before the next
// takeover or --ha-init cannot make IDs go back, as long as the servers'
// wall clocks agree to within a second or so. The line stays below 2^53
// (exact in JavaScript's numbers) until the 22nd century.
LockId WallClockFloor(std::chrono::system_clock::time_point now);

// The initialisation of a cluster of `groups` (its map and a record for
// every group without one), or why it must not run (kRejected): a group that
// would get a record still has servers running, or the map changes (or a first
// map comes over records written without one) while any server runs. `now` is
// the wall clock.
//
// A created record starts above every existing ceiling and above
// WallClockFloor(now), carries the cluster's longest window and abandon
// timeout, and is not clean: its group's first active waits one grace,
// since the lost record's clients may still be at work. When the map
// changes, every stopped group's record rises to the same ceiling, window
// and abandon timeout (a moved namespace keeps its IDs going up, and its
// old holders are covered). Every stopped group's record loses its clean
// mark and its in-sync set (its servers hold no replica any more); a running
// group keeps its record as it is.
struct InitPlan {
  Write write;  // apply guarded by the map key's create revision
  Revision guard = 0;
  std::string summary;  // what it does, for the operator
};
//
// `fresh` (--ha-new-cluster) is the operator's word that the cluster never
// served: refused if etcd holds a map or a record, and then the records are
// created clean (no grace at the first start). Their IDs still start above
// WallClockFloor(now), so that even a wrong word (an etcd rebuilt under a
// cluster that served) cannot make IDs go back.
Result<InitPlan> PlanInit(const ClusterView& view,
                          const std::vector<std::string>& groups,
                          std::chrono::system_clock::time_point now,
                          bool fresh);

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_CLUSTER_H_
