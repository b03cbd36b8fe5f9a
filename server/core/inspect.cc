#include "server/core/inspect.h"

#include <algorithm>
#include <utility>

namespace locktopus::server {
namespace {

// Whole milliseconds of `d`; 0 if it is negative.
std::uint64_t Millis(LockRecord::Clock::duration d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d);
  return static_cast<std::uint64_t>(std::max<std::int64_t>(0, ms.count()));
}

wire::ListedLock Listed(LockInfo&& info, LockRecord::Clock::time_point now) {
  wire::ListedLock lock{.id = info.id,
                        .state = info.state,
                        .resources = std::move(info.resources),
                        .waits_for = std::move(info.waits_for),
                        .waits_for_more = info.waits_for_more};
  const std::shared_ptr<Waiter> waiter = info.waiter.lock();
  const auto* record = dynamic_cast<const LockRecord*>(waiter.get());
  if (record == nullptr) return lock;
  const std::optional<LockRecord::Clock::time_point> release =
      record->released_at();
  if (const std::shared_ptr<const HolderInfo> holder = record->holder()) {
    if (!holder->client_name.empty()) lock.client_name = holder->client_name;
    if (!release) lock.connection = holder->connection;
    lock.peer = holder->peer;
  }
  LockRecord::Clock::time_point since = record->requested_at();
  if (lock.state == LockState::kAcquired) {
    since = record->acquired_at().value_or(since);
  }
  lock.since_ms = Millis(now - since);
  if (release) {
    lock.release_in_ms = Millis(*release - now);
    lock.detached = record->detached();
  }
  return lock;
}

}  // namespace

std::string LogName(const HolderInfo& holder) {
  std::string name = "client " + std::to_string(holder.connection);
  if (!holder.client_name.empty()) {
    name += " (client name \"" + holder.client_name + "\")";
  }
  return name;
}

void LockRecord::ForceReleased(LockId id) {
  EndAbandonment();
  if (auto transport = transport_.lock()) transport->ForceReleased(id);
}

void LockRecord::Abandon(Clock::time_point release_at, NamespaceHold ns) {
  Store(released_at_, release_at);
  MutexLock lock(mu_);
  if (ended_ || !ns) return;
  abandoned_ = std::move(ns);
  abandoned_->abandoned().fetch_add(1, std::memory_order_relaxed);
}

NamespaceHold LockRecord::EndAbandonment() {
  MutexLock lock(mu_);
  ended_ = true;
  NamespaceHold ns = std::exchange(abandoned_, NamespaceHold());
  // Down before the caller releases: never more abandoned than acquired.
  if (ns) ns->abandoned().fetch_sub(1, std::memory_order_relaxed);
  return ns;
}

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

std::optional<wire::LocksPage> InspectLocks(const LockService& service,
                                            std::string_view ns,
                                            const InspectQuery& query) {
  std::optional<Inspection> inspection = service.Inspect(ns, query);
  if (!inspection) return std::nullopt;
  const auto now = LockRecord::Clock::now();
  wire::LocksPage page{.ns = std::string(ns),
                       .live = inspection->live,
                       .more = inspection->more};
  page.locks.reserve(inspection->locks.size());
  for (LockInfo& info : inspection->locks) {
    page.locks.push_back(Listed(std::move(info), now));
  }
  return page;
}

}  // namespace locktopus::server
