#include "server/core/lock_service.h"

#include <algorithm>

namespace locktopus::server {

std::optional<RequestResult> Namespace::LoggedRequest(
    std::span<const Resource> resources, const WaiterRef& waiter,
    const ha::Owner& owner, ha::Position* position, bool refusable) {
  // Built before the step, so that nothing can throw between the step and
  // its append.
  ha::LockRequested change{.ns = name_,
                           .resources = {resources.begin(), resources.end()},
                           .owner = owner};
  MutexLock lock(log_mu_);
  std::optional<RequestResult> result =
      refusable ? space_.TryRequest(resources, waiter)
                : space_.Request(resources, waiter);
  if (!result) return result;
  change.id = result->id;
  change.acquired = result->acquired;
  const ha::Position appended = log_->Append(std::move(change));
  if (position != nullptr) *position = appended;
  return result;
}

ReleaseResult Namespace::Release(LockId id, ha::Position* position) {
  ReleaseResult result;
  if (log_ == nullptr) {
    result = space_.Release(id);
  } else {
    ha::LockEnded change{.ns = name_, .id = id};  // as LoggedRequest's
    MutexLock lock(log_mu_);
    result = space_.Release(id);
    ha::Position appended = 0;
    if (result.found) appended = log_->Append(std::move(change));
    if (position != nullptr) *position = appended;
  }
  for (const Acquisition& acquisition : result.acquired) {
    if (auto waiter = acquisition.waiter.lock()) waiter->Notify(acquisition.id);
  }
  return result;
}

void Namespace::SkipTo(LockId last_id) {
  if (log_ == nullptr) return space_.SkipTo(last_id);
  ha::IdsSkipped change{.ns = name_, .last_id = last_id};
  MutexLock lock(log_mu_);
  if (space_.GetStats().last_id >= last_id) return;
  space_.SkipTo(last_id);
  log_->Append(std::move(change));
}

NamespaceHold::NamespaceHold(const NamespaceHold& other)
    : service_(other.service_), ns_(other.ns_) {
  if (ns_ != nullptr) service_->AddHold(ns_);
}

NamespaceHold::NamespaceHold(NamespaceHold&& other) noexcept
    : service_(std::move(other.service_)), ns_(other.ns_) {
  other.ns_ = nullptr;
}

NamespaceHold& NamespaceHold::operator=(NamespaceHold other) noexcept {
  std::swap(service_, other.service_);
  std::swap(ns_, other.ns_);
  return *this;
}

NamespaceHold::~NamespaceHold() {
  if (ns_ != nullptr) service_->DropHold(ns_);
}

NamespaceHold LockService::Open(std::string_view name) {
  MutexLock lock(mu_);
  auto it = namespaces_.find(name);
  if (it == namespaces_.end()) {
    return Insert(name, std::max(marks_.Floor(name), id_floor_));
  }
  ++it->second->holds;
  return NamespaceHold(shared_from_this(), &it->second->ns);
}

NamespaceHold LockService::OpenAt(std::string_view name, LockId last_id) {
  MutexLock lock(mu_);
  if (namespaces_.contains(name)) return {};
  return Insert(name, last_id);
}

NamespaceHold LockService::Insert(std::string_view name, LockId last_id) {
  auto entry = std::make_unique<Entry>(name, last_id, &memory_, log_);
  const std::string_view key = entry->ns.name();
  Entry& inserted = *namespaces_.emplace(key, std::move(entry)).first->second;
  ++opened_;
  ++inserted.holds;
  return NamespaceHold(shared_from_this(), &inserted.ns);
}

NamespaceHold LockService::HoldIfOpen(std::string_view name) {
  MutexLock lock(mu_);
  auto it = namespaces_.find(name);
  if (it == namespaces_.end()) return {};
  ++it->second->holds;
  return NamespaceHold(shared_from_this(), &it->second->ns);
}

void LockService::AddHold(Namespace* ns) {
  MutexLock lock(mu_);
  ++namespaces_.at(ns->name())->holds;
}

void LockService::DropHold(Namespace* ns) {
  MutexLock lock(mu_);
  auto it = namespaces_.find(ns->name());
  if (--it->second->holds > 0) return;
  const Stats stats = ns->GetStats();
  // Never forget a live lock: a namespace that somehow still has one stays.
  if (stats.locks_pending + stats.locks_acquired > 0) return;
  marks_.Record(ns->name(), stats.last_id);
  namespaces_.erase(it);
}

void LockService::SetIdFloor(LockId floor) {
  MutexLock lock(mu_);
  id_floor_ = std::max(id_floor_, floor);
}

std::optional<Stats> LockService::FindStats(std::string_view name) const {
  MutexLock lock(mu_);
  auto it = namespaces_.find(name);
  if (it == namespaces_.end()) return std::nullopt;
  return it->second->ns.GetStats();
}

std::optional<Inspection> LockService::Inspect(
    std::string_view name, const InspectQuery& query) const {
  MutexLock lock(mu_);
  auto it = namespaces_.find(name);
  if (it == namespaces_.end()) return std::nullopt;
  return it->second->ns.Inspect(query);
}

std::optional<NamespaceSummary> LockService::Find(std::string_view name) const {
  MutexLock lock(mu_);
  auto it = namespaces_.find(name);
  if (it == namespaces_.end()) return std::nullopt;
  const Namespace& ns = it->second->ns;
  return NamespaceSummary{.name = ns.name(),
                          .stats = ns.GetStats(),
                          .memory_bytes = ns.MemoryBytes()};
}

void LockService::ForEach(
    const std::function<void(const Namespace&)>& fn) const {
  MutexLock lock(mu_);
  for (const auto& [name, entry] : namespaces_) fn(entry->ns);
}

std::vector<NamespaceSummary> LockService::Busiest(
    std::size_t limit, std::string_view filter, std::size_t* matching) const {
  auto live = [](const NamespaceSummary& s) {
    return s.stats.locks_pending + s.stats.locks_acquired;
  };
  auto busier = [&live](const NamespaceSummary& a, const NamespaceSummary& b) {
    return live(a) != live(b) ? live(a) > live(b) : a.name < b.name;
  };
  // A heap of the best `limit` so far, its least busy on top.
  std::vector<NamespaceSummary> best;
  std::size_t matched = 0;
  ForEach([&](const Namespace& ns) {
    if (ns.name().find(filter) == std::string::npos) return;
    ++matched;
    if (limit == 0) return;
    NamespaceSummary s{.name = {}, .stats = ns.GetStats()};
    if (best.size() == limit) {
      const NamespaceSummary& least = best.front();
      if (live(s) < live(least) ||
          (live(s) == live(least) && ns.name() > least.name)) {
        return;
      }
    }
    s.name = ns.name();
    s.memory_bytes = ns.MemoryBytes();
    best.push_back(std::move(s));
    std::push_heap(best.begin(), best.end(), busier);
    if (best.size() > limit) {
      std::pop_heap(best.begin(), best.end(), busier);
      best.pop_back();
    }
  });
  std::sort_heap(best.begin(), best.end(), busier);
  if (matching != nullptr) *matching = matched;
  return best;
}

std::size_t LockService::open() const {
  MutexLock lock(mu_);
  return namespaces_.size();
}

std::uint64_t LockService::opened() const {
  MutexLock lock(mu_);
  return opened_;
}

std::uint64_t LockService::LiveLocks() const {
  std::uint64_t live = 0;
  ForEach([&live](const Namespace& ns) {
    const Stats stats = ns.GetStats();
    live += stats.locks_pending + stats.locks_acquired;
  });
  return live;
}

}  // namespace locktopus::server
