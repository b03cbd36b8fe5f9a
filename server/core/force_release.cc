#include "server/core/force_release.h"

namespace locktopus::server {

std::optional<ForcedRelease> ForceRelease(LockService& service,
                                          std::string_view ns, LockId id) {
  const NamespaceHold hold = service.HoldIfOpen(ns);
  if (!hold) return std::nullopt;
  const LockState state = hold->State(id);
  if (state == LockState::kNone) return std::nullopt;
  // Read before the release, which drops the lock's waiter: IDs are never
  // reused, so if the release finds the lock, this is its waiter.
  const std::shared_ptr<Waiter> waiter = hold->WaiterOf(id).lock();
  if (!hold->Release(id).found) return std::nullopt;
  ForcedRelease released{.state = state};
  if (auto record = std::dynamic_pointer_cast<LockRecord>(waiter)) {
    released.detached = record->detached();
    released.abandoned =
        record->released_at().has_value() && !released.detached;
    released.holder = record->holder();
    record->ForceReleased(id);
  }
  return released;
}

}  // namespace locktopus::server
