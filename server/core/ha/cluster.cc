#include "server/core/ha/cluster.h"

#include <algorithm>

namespace locktopus::server::ha {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

// 2026-01-01T00:00:00Z.
constexpr system_clock::time_point kWallEpoch{
    std::chrono::seconds(1'767'225'600)};
constexpr int kWallShift = 11;  // 2048 IDs per millisecond

}  // namespace

std::string MapText(const std::vector<std::string>& groups) {
  std::string text;
  for (const std::string& group : groups) {
    if (!text.empty()) text += ',';
    text += group;
  }
  return text;
}

std::string MapKey() { return std::string(kRoot) + "map"; }
std::string GroupPrefix(std::string_view group) {
  return std::string(kRoot) + std::string(group) + "/";
}
std::string RecordKey(std::string_view group) {
  return GroupPrefix(group) + "record";
}

LockId ClusterView::MaxCeiling() const {
  LockId max = 0;
  for (const auto& [group, record] : records) {
    max = std::max(max, record.ceiling);
  }
  return max;
}

ClusterView ReadCluster(const std::vector<KeyValue>& keys) {
  ClusterView view;
  for (const KeyValue& kv : keys) {
    if (kv.key == MapKey()) {
      view.map = kv.value;
      view.map_revision = kv.create_revision;
      continue;
    }
    if (!kv.key.starts_with(kRoot)) continue;
    const std::string_view rest = std::string_view(kv.key).substr(kRoot.size());
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) continue;
    const std::string group(rest.substr(0, slash));
    const std::string_view tail = rest.substr(slash + 1);
    if (tail == "record") {
      if (std::optional<Record> record = Decode(kv.value)) {
        view.records[group] = *record;
      } else {
        view.unreadable.push_back(kv.key);
      }
    } else if (tail.starts_with("election/") &&
               (view.campaigning.empty() || view.campaigning.back() != group)) {
      view.campaigning.push_back(group);
    }
  }
  return view;
}

LockId WallClockFloor(system_clock::time_point now) {
  if (now <= kWallEpoch) return 0;
  const auto ms = std::chrono::duration_cast<milliseconds>(now - kWallEpoch);
  return static_cast<LockId>(ms.count()) << kWallShift;
}

Result<InitPlan> PlanInit(const ClusterView& view,
                          const std::vector<std::string>& groups,
                          system_clock::time_point now, bool fresh) {
  auto refuse = [](std::string why) {
    return Error{Error::Code::kRejected, std::move(why)};
  };
  if (fresh &&
      (view.map || !view.records.empty() || !view.unreadable.empty())) {
    return refuse(
        "etcd already holds a cluster (a shard map or a record under " +
        std::string(kRoot) +
        "): --ha-new-cluster is only for a cluster that never served");
  }
  if (!view.unreadable.empty()) {
    return refuse("the record at " + view.unreadable.front() +
                  " cannot be read: fix or delete it first");
  }
  InitPlan plan{.guard = view.map_revision};
  const std::string map = MapText(groups);
  // A changed map moves namespaces between groups, and so does a first map
  // over records written without one (an upgrade): every server stopped.
  // A record to create or to change concerns its own group's servers.
  const bool moves = view.map ? *view.map != map : !view.records.empty();
  for (const std::string& group : view.campaigning) {
    if (moves || !view.records.contains(group)) {
      return refuse(
          "servers of group [" + group +
          "] are running (their candidacies are in etcd): stop " +
          (moves ? "every server of the cluster" : "the group's servers") +
          " first");
    }
  }
  if (view.map != map) {
    plan.write.puts.emplace_back(MapKey(), map);
    plan.summary +=
        view.map ? "shard map changed from [" + *view.map + "] to [" + map + "]"
                 : "shard map [" + map + "] written";
  } else {
    plan.summary += "shard map [" + map + "] unchanged";
  }
  // What every record it writes carries: IDs above every ceiling and the
  // wall-clock floor; the longest window and abandon timeout of the
  // cluster, so that a grace also covers a moved namespace's old holders.
  Record base{.ceiling = std::max(view.MaxCeiling(), WallClockFloor(now))};
  for (const auto& [group, record] : view.records) {
    base.window_ms = std::max(base.window_ms, record.window_ms);
    base.abandon_ms = std::max(base.abandon_ms, record.abandon_ms);
  }
  for (const std::string& group : groups) {
    const auto it = view.records.find(group);
    if (it == view.records.end()) {
      Record created = base;
      created.clean = fresh;
      plan.write.puts.emplace_back(RecordKey(group), Encode(created));
      plan.summary += "; group [" + group + "]: record created, IDs above " +
                      std::to_string(created.ceiling) +
                      (fresh ? "" : ", its first active waits a grace");
      continue;
    }
    const bool running =
        std::find(view.campaigning.begin(), view.campaigning.end(), group) !=
        view.campaigning.end();
    if (running) {  // only when nothing moves: its active keeps the record
      plan.summary += "; group [" + group + "] keeps its record (running)";
      continue;
    }
    // A stopped group's record: after a changed map its ceiling joins the
    // others' (a namespace moving in keeps its IDs going up); and its clean
    // mark goes, since --ha-init follows something unusual — a lost record,
    // a changed map, etcd restored from a snapshot whose clean mark may be
    // older than the holders of a later active.
    Record record = it->second;
    if (moves) {
      record = Record{.ceiling = base.ceiling,
                      .epoch = record.epoch,
                      .window_ms = base.window_ms,
                      .abandon_ms = base.abandon_ms,
                      .in_sync = record.in_sync,
                      .version = record.version};
    }
    record.clean = false;
    // Its servers are stopped: none holds a replica any more.
    if (!record.in_sync.empty()) {
      record.in_sync.clear();
      record.version = it->second.version + 1;
    }
    if (record == it->second) {
      plan.summary += "; group [" + group + "] keeps its record";
      continue;
    }
    plan.write.puts.emplace_back(RecordKey(group), Encode(record));
    plan.summary +=
        "; group [" + group + "]: " +
        (moves ? "IDs above " + std::to_string(record.ceiling) + ", "
               : std::string()) +
        "waits a grace at its next start";
  }
  return plan;
}

}  // namespace locktopus::server::ha
