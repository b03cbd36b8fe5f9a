#include "server/core/inspect.h"

#include <boost/json.hpp>

#include "server/core/lock_service.h"

namespace locktopus::server {
namespace json = boost::json;

namespace {

std::int64_t Millis(LockRecord::Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

LockView View(LockInfo&& info, LockRecord::Clock::time_point now) {
  LockView view{.id = info.id,
                .state = info.state,
                .resources = std::move(info.resources),
                .waits_for = std::move(info.waits_for),
                .waits_for_more = info.waits_for_more};
  const std::shared_ptr<Waiter> waiter = info.waiter.lock();
  const auto* record = dynamic_cast<const LockRecord*>(waiter.get());
  if (record == nullptr) return view;
  if (record->holder() != nullptr) view.holder = *record->holder();
  LockRecord::Clock::time_point since = record->requested_at();
  if (view.state == LockState::kAcquired) {
    since = record->acquired_at().value_or(since);
  }
  view.since_ms = std::max<std::int64_t>(0, Millis(now - since));
  if (const auto release = record->released_at()) {
    view.abandoned = true;
    view.release_in_ms = std::max<std::int64_t>(0, Millis(*release - now));
  }
  return view;
}

json::object ResourceJson(const Resource& resource) {
  json::array path;
  path.reserve(resource.path.size());
  for (const std::string& segment : resource.path) path.emplace_back(segment);
  return {{"type", resource.access == Access::kWrite ? "write" : "read"},
          {"path", std::move(path)}};
}

}  // namespace

OldestAges AgesOf(const OldestLocks& oldest,
                  LockRecord::Clock::time_point now) {
  // The record behind `lock`, if any.
  const auto record = [](const std::optional<Acquisition>& lock) {
    std::shared_ptr<Waiter> waiter;
    if (lock) waiter = lock->waiter.lock();
    return std::dynamic_pointer_cast<const LockRecord>(waiter);
  };
  const auto age = [now](LockRecord::Clock::time_point since) {
    return std::max(
        std::chrono::nanoseconds(0),
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - since));
  };
  OldestAges ages;
  if (const auto enqueued = record(oldest.enqueued)) {
    ages.enqueued = age(enqueued->requested_at());
  }
  if (const auto acquired = record(oldest.acquired)) {
    ages.acquired =
        age(acquired->acquired_at().value_or(acquired->requested_at()));
  }
  return ages;
}

std::optional<LocksView> InspectLocks(const LockService& service,
                                      std::string_view ns,
                                      const InspectQuery& query) {
  std::optional<Inspection> inspection = service.Inspect(ns, query);
  if (!inspection) return std::nullopt;
  const auto now = LockRecord::Clock::now();
  LocksView view{.ns = std::string(ns),
                 .live = inspection->live,
                 .more = inspection->more};
  view.locks.reserve(inspection->locks.size());
  for (LockInfo& info : inspection->locks) {
    view.locks.push_back(View(std::move(info), now));
  }
  return view;
}

std::string LocksJson(const LocksView& view) {
  json::array locks;
  locks.reserve(view.locks.size());
  for (const LockView& lock : view.locks) {
    json::array resources;
    resources.reserve(lock.resources.size());
    for (const Resource& r : lock.resources)
      resources.push_back(ResourceJson(r));
    json::array waits_for;
    waits_for.reserve(lock.waits_for.size());
    for (LockId id : lock.waits_for) waits_for.emplace_back(std::to_string(id));
    json::object object{
        {"id", std::to_string(lock.id)},
        {"state", lock.state == LockState::kAcquired ? "acquired" : "enqueued"},
        {"resources", std::move(resources)}};
    if (lock.holder) {
      if (!lock.holder->client_name.empty()) {
        object["client_name"] = lock.holder->client_name;
      }
      if (!lock.abandoned) object["connection"] = lock.holder->connection;
      object["peer"] = lock.holder->peer;
    }
    object["since_ms"] = lock.since_ms;
    if (lock.abandoned) {
      object["abandoned"] = true;
      object["release_in_ms"] = lock.release_in_ms;
    }
    object["waits_for"] = std::move(waits_for);
    object["waits_for_more"] = lock.waits_for_more;
    locks.emplace_back(std::move(object));
  }
  return json::serialize(json::object{{"namespace", view.ns},
                                      {"live", view.live},
                                      {"more", view.more},
                                      {"locks", std::move(locks)}});
}

}  // namespace locktopus::server
