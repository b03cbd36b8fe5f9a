#include "server/lock_service.h"

namespace locktopus::server {
namespace {
constexpr std::size_t kIdleWaiterSlots = 64;
}  // namespace

RequestResult Namespace::Request(std::span<const Resource> resources,
                                 std::weak_ptr<Waiter> waiter) {
  MutexLock lock(mu_);
  RequestResult result = space_.Request(resources);
  if (!result.acquired) waiters_.emplace(result.id, std::move(waiter));
  return result;
}

bool Namespace::Release(LockId id) {
  std::vector<std::pair<std::shared_ptr<Waiter>, LockId>> wake;
  {
    MutexLock lock(mu_);
    ReleaseResult result = space_.Release(id);
    if (!result.found) return false;
    waiters_.erase(id);
    for (LockId acquired : result.acquired) {
      auto it = waiters_.find(acquired);
      if (it == waiters_.end()) continue;
      if (auto waiter = it->second.lock()) wake.emplace_back(waiter, acquired);
      waiters_.erase(it);
    }
    // An idle namespace gives back what its longest queue made it allocate.
    if (waiters_.empty() && waiters_.bucket_count() > kIdleWaiterSlots) {
      decltype(waiters_)().swap(waiters_);
    }
  }
  for (auto& [waiter, acquired] : wake) waiter->Notify(acquired);
  return true;
}

Namespace& LockService::Open(std::string_view name) {
  MutexLock lock(mu_);
  auto it = namespaces_.find(name);
  if (it == namespaces_.end()) {
    auto ns = std::make_unique<Namespace>(std::string(name),
                                          registry_.Open(name));
    it = namespaces_.emplace(std::string(name), std::move(ns)).first;
  }
  return *it->second;
}

const Namespace* LockService::Find(std::string_view name) const {
  MutexLock lock(mu_);
  auto it = namespaces_.find(name);
  return it == namespaces_.end() ? nullptr : it->second.get();
}

std::vector<const Namespace*> LockService::All() const {
  MutexLock lock(mu_);
  std::vector<const Namespace*> all;
  for (const auto& [name, ns] : namespaces_) all.push_back(ns.get());
  return all;
}

std::uint64_t LockService::LiveLocks() const {
  std::uint64_t live = 0;
  for (const Namespace* ns : All()) {
    const Stats stats = ns->GetStats();
    live += stats.locks_pending + stats.locks_acquired;
  }
  return live;
}

}  // namespace locktopus::server
