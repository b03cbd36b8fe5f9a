// The server's view of the engine: namespaces by name, and for each the
// connections waiting for their enqueued locks. No lock logic: every decision
// is the engine's; this file only remembers whom to tell.
//
// Thread safety: every method may be called from any thread. A Namespace's
// mutex covers the engine step together with the waiter table, so a waiter
// is registered before anyone can see its lock acquired. Waiters are
// notified after that mutex is released.

#ifndef LOCKTOPUS_SERVER_LOCK_SERVICE_H_
#define LOCKTOPUS_SERVER_LOCK_SERVICE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/engine.h"
#include "server/metrics.h"

namespace locktopus::server {

// Someone to tell when an enqueued lock is acquired.
class Waiter {
 public:
  virtual ~Waiter() = default;
  // Called outside every mutex, on whichever thread did the step that
  // acquired `id`. Must not block: post the work to the waiter's own strand.
  virtual void Notify(LockId id) = 0;
};

class Namespace {
 public:
  Namespace(std::string name, LockSpace& space)
      : name_(std::move(name)), space_(space) {}

  // Requests a lock; if it is enqueued, `waiter` is told when it is acquired.
  RequestResult Request(std::span<const Resource> resources,
                        std::weak_ptr<Waiter> waiter) EXCLUDES(mu_);

  // Releases or cancels `id`, then tells the waiters of every lock that the
  // step acquired. Returns false if `id` was not live.
  bool Release(LockId id) EXCLUDES(mu_);

  const std::string& name() const { return name_; }
  Stats GetStats() const { return space_.GetStats(); }

  // This namespace's lock events, counted only under
  // --metrics-namespace-labels (Metrics::per_namespace). Atomic.
  LockCounters& counters() { return counters_; }
  const LockCounters& counters() const { return counters_; }

 private:
  const std::string name_;
  LockSpace& space_;
  LockCounters counters_;
  Mutex mu_;
  std::unordered_map<LockId, std::weak_ptr<Waiter>> waiters_ GUARDED_BY(mu_);
};

class LockService {
 public:
  // The namespace `name`, created on first use; lives as long as the service.
  Namespace& Open(std::string_view name) EXCLUDES(mu_);

  // The namespace `name`, or nullptr if nobody has opened it.
  const Namespace* Find(std::string_view name) const EXCLUDES(mu_);

  // Opened namespaces, sorted by name.
  std::vector<const Namespace*> All() const EXCLUDES(mu_);

  // Locks live in any namespace, enqueued or acquired.
  std::uint64_t LiveLocks() const EXCLUDES(mu_);

 private:
  Registry registry_;
  mutable Mutex mu_;
  std::map<std::string, std::unique_ptr<Namespace>, std::less<>> namespaces_
      GUARDED_BY(mu_);
};

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_LOCK_SERVICE_H_
