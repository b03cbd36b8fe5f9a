#include "engine/engine.h"

#include "engine/lock_table.h"

namespace locktopus {

bool MemoryBudget::TryCharge(std::uint64_t bytes, std::uint64_t spare) {
  if (bytes > limit_ || spare > limit_ - bytes) return false;
  const std::uint64_t needed = bytes + spare;
  std::uint64_t used = used_.load(std::memory_order_relaxed);
  do {
    if (used > limit_ - needed) return false;
  } while (!used_.compare_exchange_weak(used, used + bytes,
                                        std::memory_order_relaxed));
  return true;
}

bool MemoryBudget::TryChargeLock(std::uint64_t bytes, std::uint64_t own) {
  const bool small = own <= limit_ / kSmallLockDivisor;
  return TryCharge(bytes, small ? 0 : limit_ / kReserveDivisor);
}

void MemoryBudget::Charge(std::uint64_t bytes) {
  used_.fetch_add(bytes, std::memory_order_relaxed);
}

void MemoryBudget::Credit(std::uint64_t bytes) {
  used_.fetch_sub(bytes, std::memory_order_relaxed);
}

LockSpace::LockSpace(LockId last_id, MemoryBudget* budget)
    : table_(std::make_unique<LockTable>(last_id, budget)) {}

LockSpace::~LockSpace() = default;

RequestResult LockSpace::Request(std::span<const Resource> resources,
                                 const WaiterRef& waiter) {
  MutexLock lock(mu_);
  RequestResult result = *table_->Request(resources, waiter,
                                          /*refusable=*/false);
  result.step = ++steps_;
  return result;
}

std::optional<RequestResult> LockSpace::TryRequest(
    std::span<const Resource> resources, const WaiterRef& waiter) {
  MutexLock lock(mu_);
  std::optional<RequestResult> result =
      table_->Request(resources, waiter, /*refusable=*/true);
  if (result) result->step = ++steps_;
  return result;
}

ReleaseResult LockSpace::Release(LockId id) {
  MutexLock lock(mu_);
  ReleaseResult result = table_->Release(id);
  result.step = ++steps_;
  return result;
}

void LockSpace::SkipTo(LockId last_id) {
  MutexLock lock(mu_);
  table_->SkipTo(last_id);
}

LockState LockSpace::State(LockId id) const {
  MutexLock lock(mu_);
  return table_->State(id);
}

WaiterRef LockSpace::WaiterOf(LockId id) const {
  MutexLock lock(mu_);
  return table_->WaiterOf(id);
}

Inspection LockSpace::Inspect(const InspectQuery& query) const {
  MutexLock lock(mu_);
  return table_->Inspect(query);
}

OldestLocks LockSpace::Oldest() const {
  MutexLock lock(mu_);
  return table_->Oldest();
}

Stats LockSpace::GetStats() const {
  MutexLock lock(mu_);
  return table_->GetStats();
}

std::uint64_t LockSpace::MemoryBytes() const {
  MutexLock lock(mu_);
  return table_->MemoryBytes();
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
