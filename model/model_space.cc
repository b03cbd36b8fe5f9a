#include "model/model_space.h"

#include <algorithm>
#include <utility>

namespace locktopus::model {

bool Overlap(const Path& a, const Path& b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

bool Conflicts(const Resource& a, const Resource& b) {
  const bool a_writes = a.access == Access::kWrite;
  const bool b_writes = b.access == Access::kWrite;
  return (a_writes || b_writes) && Overlap(a.path, b.path);
}

bool Conflicts(std::span<const Resource> a, std::span<const Resource> b) {
  for (const Resource& x : a) {
    for (const Resource& y : b) {
      if (Conflicts(x, y)) return true;
    }
  }
  return false;
}

RequestResult ModelSpace::Request(std::span<const Resource> resources,
                                  const WaiterRef& waiter) {
  const LockId id = ++last_id_;
  live_.push_back({.id = id,
                   .resources = {resources.begin(), resources.end()},
                   .waiter = waiter});
  Scan();
  return {.step = ++steps_,
          .id = id,
          .acquired = State(id) == LockState::kAcquired};
}

ReleaseResult ModelSpace::Release(LockId id) {
  auto it = std::find_if(live_.begin(), live_.end(),
                         [id](const Lock& lock) { return lock.id == id; });
  if (it == live_.end()) return {.step = ++steps_};
  live_.erase(it);
  return {.step = ++steps_, .found = true, .acquired = Scan()};
}

std::vector<Acquisition> ModelSpace::Scan() {
  std::vector<Acquisition> acquired;
  for (std::size_t i = 0; i < live_.size(); ++i) {
    Lock& lock = live_[i];
    if (lock.acquired) continue;
    bool blocked = false;
    for (std::size_t j = 0; j < i; ++j) {
      if (Conflicts(live_[j].resources, lock.resources)) blocked = true;
    }
    if (!blocked) {
      lock.acquired = true;
      lock.acquired_in = steps_ + 1;  // the step that calls Scan
      acquired.push_back({lock.id, lock.waiter});
    }
  }
  return acquired;
}

OldestLocks ModelSpace::Oldest() const {
  OldestLocks oldest;
  const Lock* first_acquired = nullptr;
  for (const Lock& lock : live_) {  // ascending by ID
    if (!lock.acquired && !oldest.enqueued) {
      oldest.enqueued = Acquisition{lock.id, lock.waiter};
    }
    if (lock.acquired && (first_acquired == nullptr ||
                          lock.acquired_in < first_acquired->acquired_in)) {
      first_acquired = &lock;
    }
  }
  if (first_acquired != nullptr) {
    oldest.acquired = Acquisition{first_acquired->id, first_acquired->waiter};
  }
  return oldest;
}

LockState ModelSpace::State(LockId id) const {
  for (const Lock& lock : live_) {
    if (lock.id == id) {
      return lock.acquired ? LockState::kAcquired : LockState::kEnqueued;
    }
  }
  return LockState::kNone;
}

WaiterRef ModelSpace::WaiterOf(LockId id) const {
  for (const Lock& lock : live_) {
    if (lock.id == id) return lock.waiter;
  }
  return {};
}

Stats ModelSpace::GetStats() const {
  Stats stats{.last_id = last_id_};
  std::vector<Path> paths;  // every non-empty prefix of a live resource path
  for (const Lock& lock : live_) {
    (lock.acquired ? stats.locks_acquired : stats.locks_pending) += 1;
    (lock.acquired ? stats.resources_acquired : stats.resources_pending) +=
        lock.resources.size();
    for (const Resource& r : lock.resources) {
      for (std::size_t n = 1; n <= r.path.size(); ++n) {
        Path prefix(r.path.begin(), r.path.begin() + n);
        if (std::find(paths.begin(), paths.end(), prefix) == paths.end()) {
          paths.push_back(std::move(prefix));
        }
      }
    }
  }
  stats.path_count = paths.size();
  return stats;
}

Inspection ModelSpace::Inspect(const InspectQuery& query) const {
  Inspection result{.live = live_.size()};
  for (std::size_t i = 0; i < live_.size(); ++i) {
    const Lock& lock = live_[i];
    bool matches = query.path.empty();
    for (const Resource& r : lock.resources) {
      if (Overlap(r.path, query.path)) matches = true;
    }
    if (!matches) continue;
    if (result.locks.size() == query.limit) {
      result.more = true;
      continue;
    }
    LockInfo info{
        .id = lock.id,
        .state = lock.acquired ? LockState::kAcquired : LockState::kEnqueued,
        .resources = lock.resources,
        .waiter = lock.waiter};
    if (!lock.acquired) {
      for (std::size_t j = 0; j < i; ++j) {
        if (!Conflicts(live_[j].resources, lock.resources)) continue;
        if (info.waits_for.size() == query.max_blockers) {
          info.waits_for_more = true;
        } else {
          info.waits_for.push_back(live_[j].id);
        }
      }
    }
    result.locks.push_back(std::move(info));
  }
  return result;
}

}  // namespace locktopus::model
