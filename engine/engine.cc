#include "engine/engine.h"

#include "engine/lock_table.h"

namespace locktopus {

LockSpace::LockSpace() : table_(std::make_unique<LockTable>()) {}

LockSpace::~LockSpace() = default;

RequestResult LockSpace::Request(std::span<const Resource> resources) {
  return RequestStamped(resources).result;
}

ReleaseResult LockSpace::Release(LockId id) { return ReleaseStamped(id).result; }

Stamped<RequestResult> LockSpace::RequestStamped(
    std::span<const Resource> resources) {
  MutexLock lock(mu_);
  return {++steps_, table_->Request(resources)};
}

Stamped<ReleaseResult> LockSpace::ReleaseStamped(LockId id) {
  MutexLock lock(mu_);
  return {++steps_, table_->Release(id)};
}

LockState LockSpace::State(LockId id) const {
  MutexLock lock(mu_);
  return table_->State(id);
}

Stats LockSpace::GetStats() const {
  MutexLock lock(mu_);
  return table_->GetStats();
}

std::uint64_t LockSpace::Work() const {
  MutexLock lock(mu_);
  return table_->Work();
}

std::size_t LockSpace::ReservedSlots() const {
  MutexLock lock(mu_);
  return table_->ReservedSlots();
}

LockSpace& Registry::Open(std::string_view name) {
  MutexLock lock(mu_);
  auto it = spaces_.find(name);
  if (it == spaces_.end()) {
    it = spaces_.emplace(std::string(name), std::make_unique<LockSpace>())
             .first;
  }
  return *it->second;
}

LockSpace* Registry::Find(std::string_view name) const {
  MutexLock lock(mu_);
  auto it = spaces_.find(name);
  return it == spaces_.end() ? nullptr : it->second.get();
}

std::vector<std::string> Registry::Names() const {
  MutexLock lock(mu_);
  std::vector<std::string> names;
  names.reserve(spaces_.size());
  for (const auto& [name, space] : spaces_) names.push_back(name);
  return names;
}

}  // namespace locktopus
