// The server's namespaces: the one map from a name to its open namespace,
// and the delivery of acquisition notices. No lock logic: every decision is
// the engine's.
//
// Life of a namespace: it is open while something holds it — a connection
// to it, or the timer of a lock abandoned in it (NamespaceHold). When the
// last hold goes and no lock is live, it is freed entirely: its map entry,
// its LockSpace, its counters. Only its last ID stays, in IdMarks, so that
// the namespace opened again under that name continues above it. A
// namespace never freed keeps its own sequence. In HA mode (or with
// --state-dir) every namespace also starts above the group's ID floor.
//
// Memory: every namespace's lock space charges one MemoryBudget, the
// service's (--max-lock-memory); a lock it cannot cover is refused
// (Namespace::TryRequest).
//
// Thread safety: every method may be called from any thread. A lock step
// takes only its namespace's LockSpace mutex (the budget is an atomic). The
// service's own mutex is taken to open a namespace, to add or drop a hold,
// and to look at the open namespaces; it is never held during a step, and a
// step never takes it.
// Acquisition notices are delivered after the step's mutex is released, on
// the thread that did the step.
//
// Replication: a service given a ChangeLog (ha/replication.h) appends every
// change of lock state to it. A namespace then takes a mutex of its own
// around each step and its append, so that its changes reach the log in the
// engine's step order and before the step's caller can drop its hold (and
// so before the namespace can be freed and opened again). Without a log,
// a step costs one null check more.

#ifndef LOCKTOPUS_SERVER_CORE_LOCK_SERVICE_H_
#define LOCKTOPUS_SERVER_CORE_LOCK_SERVICE_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "engine/id_marks.h"
#include "engine/thread_annotations.h"
#include "server/core/ha/replication.h"
#include "server/core/metrics.h"

namespace locktopus::server {

class LockService;

// One open namespace: its lock space and its counters.
class Namespace {
 public:
  // `log`, if not null, must outlive the namespace: every change is
  // appended to it.
  Namespace(std::string_view name, LockId last_id,
            MemoryBudget* budget = nullptr, ha::ChangeLog* log = nullptr)
      : name_(name), budget_(budget), log_(log), space_(last_id, budget) {}
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  const std::string& name() const { return name_; }

  // Requests a lock for `owner`; if it is enqueued, `waiter` is told
  // (Waiter::Notify) once it is acquired. With a log, `position`, if not
  // null, gets the position of the change appended (without one it is left
  // as it is).
  RequestResult Request(std::span<const Resource> resources,
                        const WaiterRef& waiter = {},
                        const ha::Owner& owner = {},
                        ha::Position* position = nullptr) {
    if (log_ == nullptr) return space_.Request(resources, waiter);
    return *LoggedRequest(resources, waiter, owner, position,
                          /*refusable=*/false);
  }

  // As Request, but nullopt, changing nothing (nothing appended), when the
  // lock memory budget cannot cover the lock (LockSpace::TryRequest).
  std::optional<RequestResult> TryRequest(std::span<const Resource> resources,
                                          const WaiterRef& waiter = {},
                                          const ha::Owner& owner = {},
                                          ha::Position* position = nullptr) {
    if (log_ == nullptr) return space_.TryRequest(resources, waiter);
    return LoggedRequest(resources, waiter, owner, position,
                         /*refusable=*/true);
  }

  // Releases or cancels `id`, then tells the waiter of every lock the step
  // acquired, outside the space's mutex. With a log, `position`, if not
  // null, gets the position of the change appended, or 0 if `id` was not
  // live (without a log it is left as it is).
  ReleaseResult Release(LockId id, ha::Position* position = nullptr);

  // Raises the last issued ID to `last_id` if it is higher
  // (LockSpace::SkipTo): a takeover rebuilds a namespace whose live IDs
  // have gaps (adopt.h). With a log, a raise is appended (IdsSkipped).
  void SkipTo(LockId last_id) EXCLUDES(log_mu_);

  LockState State(LockId id) const { return space_.State(id); }
  WaiterRef WaiterOf(LockId id) const { return space_.WaiterOf(id); }
  Stats GetStats() const { return space_.GetStats(); }
  Inspection Inspect(const InspectQuery& query) const {
    return space_.Inspect(query);
  }
  OldestLocks Oldest() const { return space_.Oldest(); }
  // Heap bytes of this namespace's lock state (LockSpace::MemoryBytes).
  std::uint64_t MemoryBytes() const { return space_.MemoryBytes(); }
  // The budget it charges; null: none.
  const MemoryBudget* budget() const { return budget_; }

  // This namespace's lock events, counted only under
  // --metrics-namespace-labels (Metrics::per_namespace). Atomic.
  LockCounters& counters() { return counters_; }
  const LockCounters& counters() const { return counters_; }

  // Acquired locks whose connection ended and whose abandon timer has not
  // released them yet: counted up when the abandonment begins and down when
  // it ends, by its timer or by an operator's release (LockRecord::Abandon,
  // LockRecord::EndAbandonment). Atomic; read by /metrics.
  Counter& abandoned() { return abandoned_; }
  const Counter& abandoned() const { return abandoned_; }

 private:
  // With a log: the step and its append, under log_mu_.
  std::optional<RequestResult> LoggedRequest(
      std::span<const Resource> resources, const WaiterRef& waiter,
      const ha::Owner& owner, ha::Position* position, bool refusable)
      EXCLUDES(log_mu_);

  const std::string name_;
  MemoryBudget* const budget_;
  ha::ChangeLog* const log_;
  // With a log: held across each step and its append (see the file
  // comment); taken before the space's mutex and the log's.
  Mutex log_mu_;
  LockSpace space_;
  LockCounters counters_;
  Counter abandoned_{0};
};

static_assert(InspectInterface<Namespace>);

// Keeps one namespace open while it lives. Copying adds a hold; an empty
// hold (default-constructed or moved from) holds nothing. Keeps the service
// alive too, so a hold may outlive every other owner of it.
class NamespaceHold {
 public:
  NamespaceHold() = default;
  NamespaceHold(const NamespaceHold& other);
  NamespaceHold& operator=(NamespaceHold other) noexcept;
  NamespaceHold(NamespaceHold&& other) noexcept;
  ~NamespaceHold();

  Namespace* operator->() const { return ns_; }
  Namespace& operator*() const { return *ns_; }
  explicit operator bool() const { return ns_ != nullptr; }

  // Drops the hold now.
  void reset() { *this = NamespaceHold(); }

 private:
  friend class LockService;
  NamespaceHold(std::shared_ptr<LockService> service, Namespace* ns)
      : service_(std::move(service)), ns_(ns) {}

  std::shared_ptr<LockService> service_;
  Namespace* ns_ = nullptr;
};

// An open namespace as read at one moment.
struct NamespaceSummary {
  std::string name;
  Stats stats;
  std::uint64_t memory_bytes = 0;  // Namespace::MemoryBytes
};

// Must be owned by a std::shared_ptr (holds share it).
class LockService : public std::enable_shared_from_this<LockService> {
 public:
  // Lock state of every namespace together may take `max_lock_memory` heap
  // bytes (MemoryBudget).
  // With `log` (which must outlive the service), every namespace appends
  // its changes to it.
  explicit LockService(
      std::uint64_t max_lock_memory = std::numeric_limits<std::uint64_t>::max(),
      ha::ChangeLog* log = nullptr)
      : memory_(max_lock_memory), log_(log) {}

  // Holds the namespace `name`, opening it first if it is not open: its
  // first ID is then above IdMarks's floor for the name.
  NamespaceHold Open(std::string_view name) EXCLUDES(mu_);
  // Opens the namespace `name` with its last issued ID `last_id`, whatever
  // the floor and IdMarks say, and holds it: a takeover rebuilds a
  // namespace as its predecessor had it (adopt.h). An empty hold, changing
  // nothing, if it is open already.
  NamespaceHold OpenAt(std::string_view name, LockId last_id) EXCLUDES(mu_);
  // Holds the namespace `name` if it is open now; an empty hold if not.
  // Never opens one.
  NamespaceHold HoldIfOpen(std::string_view name) EXCLUDES(mu_);

  // Every namespace opened from now on starts its IDs above `floor` (the
  // group's ID ceiling when this server became its active, ha/node.h).
  // Never lowers it.
  void SetIdFloor(LockId floor) EXCLUDES(mu_);

  // The statistics of `name`, or nullopt if it is not open now.
  std::optional<Stats> FindStats(std::string_view name) const EXCLUDES(mu_);
  // The same with its name and lock memory.
  std::optional<NamespaceSummary> Find(std::string_view name) const
      EXCLUDES(mu_);

  // LockSpace::Inspect of `name`, or nullopt if it is not open now. Never
  // opens it.
  std::optional<Inspection> Inspect(std::string_view name,
                                    const InspectQuery& query) const
      EXCLUDES(mu_);

  // Calls `fn` for every open namespace, in name order, under the service's
  // mutex: `fn` must not open, hold or drop namespaces.
  void ForEach(const std::function<void(const Namespace&)>& fn) const
      EXCLUDES(mu_);

  // The `limit` open namespaces whose name contains `filter` (every one,
  // if empty) with the most live locks, busiest first (ties by name);
  // `matching`, if not null, receives how many names contain it.
  std::vector<NamespaceSummary> Busiest(std::size_t limit,
                                        std::string_view filter = {},
                                        std::size_t* matching = nullptr) const
      EXCLUDES(mu_);

  // Namespaces open now, and opened since the start (each opening of a
  // freed name counts again).
  std::size_t open() const EXCLUDES(mu_);
  std::uint64_t opened() const EXCLUDES(mu_);

  // Locks live in any namespace, enqueued or acquired.
  std::uint64_t LiveLocks() const EXCLUDES(mu_);

  // What every namespace's lock state takes together, and its limit.
  const MemoryBudget& memory() const { return memory_; }

 private:
  friend class NamespaceHold;
  struct Entry {
    Entry(std::string_view name, LockId last_id, MemoryBudget* budget,
          ha::ChangeLog* log)
        : ns(name, last_id, budget, log) {}
    Namespace ns;
    std::size_t holds = 0;  // guarded by LockService::mu_
  };

  // Opens `name`, which is not open, with its last issued ID `last_id`, and
  // holds it.
  NamespaceHold Insert(std::string_view name, LockId last_id) REQUIRES(mu_);
  void AddHold(Namespace* ns) EXCLUDES(mu_);
  // Frees the namespace once its last hold goes and no lock is live in it.
  void DropHold(Namespace* ns) EXCLUDES(mu_);

  // Declared before the namespaces, which charge it until they go.
  MemoryBudget memory_;
  ha::ChangeLog* const log_;
  mutable Mutex mu_;
  // Keys view their entry's own name.
  std::map<std::string_view, std::unique_ptr<Entry>> namespaces_
      GUARDED_BY(mu_);
  IdMarks marks_ GUARDED_BY(mu_);
  LockId id_floor_ GUARDED_BY(mu_) = 0;
  std::uint64_t opened_ GUARDED_BY(mu_) = 0;
};

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_LOCK_SERVICE_H_
