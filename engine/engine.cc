#include "engine/engine.h"

#include "engine/lock_table.h"

namespace locktopus {

LockSpace::LockSpace(LockId last_id)
    : table_(std::make_unique<LockTable>(last_id)) {}

LockSpace::~LockSpace() = default;

RequestResult LockSpace::Request(std::span<const Resource> resources,
                                 const WaiterRef& waiter) {
  MutexLock lock(mu_);
  RequestResult result = table_->Request(resources, waiter);
  result.step = ++steps_;
  return result;
}

ReleaseResult LockSpace::Release(LockId id) {
  MutexLock lock(mu_);
  ReleaseResult result = table_->Release(id);
  result.step = ++steps_;
  return result;
}

LockState LockSpace::State(LockId id) const {
  MutexLock lock(mu_);
  return table_->State(id);
}

Stats LockSpace::GetStats() const {
  MutexLock lock(mu_);
  return table_->GetStats();
}

std::uint64_t LockSpace::TEST_Work() const {
  MutexLock lock(mu_);
  return table_->Work();
}

std::size_t LockSpace::TEST_ReservedSlots() const {
  MutexLock lock(mu_);
  return table_->ReservedSlots();
}

}  // namespace locktopus
