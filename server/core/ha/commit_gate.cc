#include "server/core/ha/commit_gate.h"

#include <vector>

namespace locktopus::server::ha {

void CommitGate::WhenCommitted(Position position, std::function<void()> fn) {
  {
    MutexLock lock(mu_);
    if (!IsCommitted(position)) {
      waiting_.emplace(position, std::move(fn));
      return;
    }
  }
  fn();
}

void CommitGate::Advance(Position committed) {
  std::vector<std::function<void()>> ready;
  {
    MutexLock lock(mu_);
    committed_.store(committed, std::memory_order_release);
    const auto end = waiting_.upper_bound(committed);
    for (auto it = waiting_.begin(); it != end; ++it) {
      ready.push_back(std::move(it->second));
    }
    waiting_.erase(waiting_.begin(), end);
  }
  for (auto& fn : ready) fn();
}

}  // namespace locktopus::server::ha
