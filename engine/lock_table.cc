#include "engine/lock_table.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <new>
#include <stdexcept>

#include "engine/engine.h"

namespace locktopus {
namespace {

// Bit m of kConflicts[mode] is set when the two modes conflict (see the
// matrix in lock_table.h). Indexed by IR, IW, R, W.
constexpr std::array<std::uint8_t, 4> kConflicts = {
    0b1000,  // IR: W
    0b1100,  // IW: R, W
    0b1010,  // R: IW, W
    0b1111,  // W: everything
};

constexpr LockId kNoLimit = std::numeric_limits<LockId>::max();

// A spare list longer than four times the pending locks and this is shrunk.
constexpr std::size_t kIdleSpare = 64;

// The hash of the child of `parent` named `segment`.
std::uint64_t HashKey(const void* parent, std::string_view segment) {
  return std::hash<std::string_view>{}(segment) ^
         reinterpret_cast<std::uintptr_t>(parent) * 0xC2B2AE3D27D4EB4Fu;
}

template <class T>
std::uint64_t ArrayCost(std::size_t count) {
  return AllocationCost(count * sizeof(T));
}

}  // namespace

std::uint64_t AllocationCost(std::uint64_t bytes) {
  if (bytes == 0) return 0;
  if (bytes >= 128 * 1024) return (bytes + 16 + 4095) / 4096 * 4096;
  return std::max<std::uint64_t>(32, (bytes + 8 + 15) / 16 * 16);
}

std::uint64_t LockTable::NodeHash::Hash(const Node& node) {
  return HashKey(node.parent, node.segment());
}

std::uint64_t LockTable::LockHash::Hash(const Lock& lock) {
  return HashId(lock.id);
}

bool LockTable::Node::Empty() const {
  return children == 0 &&
         std::all_of(lists.begin(), lists.end(),
                     [](const ModeList& list) { return list.head == nullptr; });
}

LockTable::LockTable(LockId last_id, MemoryBudget* budget) : budget_(budget) {
  stats_.last_id = last_id;
}

LockTable::~LockTable() {
  const std::uint64_t held = MemoryBytes();
  locks_.ForEach([this](Lock* lock) { Free(lock); });
  nodes_.ForEach([this](Node* node) { Free(node); });
  if (budget_ != nullptr) budget_->Credit(held);
}

std::uint64_t LockTable::MemoryBytes() const {
  return block_bytes_ + ArrayCost<Node*>(nodes_.capacity()) +
         ArrayCost<Lock*>(locks_.capacity()) +
         ArrayCost<Acquisition>(spare_.capacity());
}

LockTable::Lock* LockTable::NewLock(std::uint32_t entries) {
  const std::size_t size = sizeof(Lock) + entries * sizeof(Entry);
  Lock* lock = new (::operator new(size)) Lock;
  lock->entry_count = entries;
  block_bytes_ += AllocationCost(size);
  return lock;
}

LockTable::Node* LockTable::NewNode(Node& parent, std::string_view segment) {
  const std::size_t size = sizeof(Node) + segment.size();
  Node* node = new (::operator new(size)) Node;
  node->parent = &parent;
  node->size = static_cast<std::uint32_t>(segment.size());
  std::memcpy(node + 1, segment.data(), segment.size());
  block_bytes_ += AllocationCost(size);
  return node;
}

void LockTable::Free(Lock* lock) noexcept {
  block_bytes_ -=
      AllocationCost(sizeof(Lock) + lock->entry_count * sizeof(Entry));
  lock->~Lock();
  ::operator delete(lock);
}

void LockTable::Free(Node* node) noexcept {
  block_bytes_ -= AllocationCost(sizeof(Node) + node->size);
  node->~Node();
  ::operator delete(node);
}

LockId LockTable::ClearLimit(const Node& node, Mode mode) const {
  LockId limit = kNoLimit;
  for (int m = 0; m < kModes; ++m) {
    Entry* head = node.lists[m].head;
    if ((kConflicts[mode] >> m & 1) && head != nullptr) {
      limit = std::min(limit, LockOf(*head).id);
    }
  }
  return limit;
}

LockTable::Node* LockTable::FindChild(const Node& node,
                                      std::string_view segment,
                                      std::uint64_t hash) const {
  return nodes_.Find(hash, [&](const Node& candidate) {
    return candidate.parent == &node && candidate.segment() == segment;
  });
}

LockTable::Node& LockTable::Child(Node& node, std::string_view segment) {
  ++work_;
  const std::uint64_t hash = HashKey(&node, segment);
  Node* child = FindChild(node, segment, hash);
  if (child != nullptr) return *child;
  child = NewNode(node, segment);
  try {
    nodes_.Insert(child, hash);
  } catch (...) {
    Free(child);
    throw;
  }
  ++node.children;
  ++stats_.path_count;
  return *child;
}

void LockTable::Append(Entry& entry) noexcept {
  ++work_;
  ModeList& list = entry.node->lists[entry.mode];
  Lock& lock = LockOf(entry);
  entry.next = nullptr;
  if (list.head == nullptr) {
    list.head = entry.prev = &entry;
  } else {
    entry.prev = list.head->prev;
    entry.prev->next = &entry;
    list.head->prev = &entry;
  }
  // A later entry can only be clear if every entry before it is (invariant 2).
  if (list.boundary == nullptr &&
      lock.id <= ClearLimit(*entry.node, entry.mode)) {
    return;
  }
  ++lock.pending;
  if (list.boundary == nullptr) list.boundary = &entry;
}

void LockTable::Advance(Node& node, Mode mode) noexcept {
  ++work_;
  ModeList& list = node.lists[mode];
  const LockId limit = ClearLimit(node, mode);
  while (list.boundary != nullptr && LockOf(*list.boundary).id <= limit) {
    ++work_;
    Lock& lock = LockOf(*list.boundary);
    list.boundary = list.boundary->next;
    if (--lock.pending == 0 && !lock.releasing) OnAcquired(lock);
  }
}

void LockTable::Remove(Entry& entry) noexcept {
  ++work_;
  Node& node = *entry.node;
  ModeList& list = node.lists[entry.mode];
  const bool was_head = list.head == &entry;
  if (list.boundary == &entry) list.boundary = entry.next;
  if (was_head) {
    list.head = entry.next;
  } else {
    entry.prev->next = entry.next;
  }
  // The head's prev is the tail: a removed tail hands that on.
  if (entry.next != nullptr) {
    entry.next->prev = entry.prev;
  } else if (!was_head) {
    list.head->prev = entry.prev;
  }
  // Only a head takes part in ClearLimit: removing one may clear entries of
  // every mode it conflicts with.
  if (!was_head) return;
  for (int m = 0; m < kModes; ++m) {
    if (kConflicts[entry.mode] >> m & 1) Advance(node, static_cast<Mode>(m));
  }
}

void LockTable::PruneIfEmpty(Node& node) noexcept {
  if (&node == &root_ || !node.Empty()) return;
  --node.parent->children;
  nodes_.Erase(&node);
  --stats_.path_count;
  Free(&node);
}

void LockTable::OnAcquired(Lock& lock) noexcept {
  // On acquired_ once the step has them all in ID order (Release).
  pending_.Remove(lock, &Lock::by_state);
  // Never reallocates: ReserveSpare made room for every pending lock.
  // A copy: the lock keeps its waiter for Inspect while it lives.
  spare_.push_back({lock.id, lock.waiter});
  --stats_.locks_pending;
  ++stats_.locks_acquired;
  stats_.resources_pending -= lock.resources;
  stats_.resources_acquired += lock.resources;
}

void LockTable::ReserveSpare(std::uint64_t extra) {
  const std::uint64_t needed = stats_.locks_pending + extra;
  if (spare_.capacity() < needed) {
    spare_.reserve(std::max<std::uint64_t>(needed, 2 * spare_.capacity()));
  }
}

std::uint64_t LockTable::WorstCaseBytes(std::span<const Resource> resources,
                                        std::uint64_t& own) const {
  std::uint64_t entries = 0, segments = 0, bytes = 0;
  for (const Resource& r : resources) {
    entries += r.path.size() + 1;
    segments += r.path.size();
    for (const std::string& segment : r.path) {
      bytes += AllocationCost(sizeof(Node) + segment.size());
    }
  }
  bytes += AllocationCost(sizeof(Lock) + entries * sizeof(Entry));
  own = bytes;
  // An index that grows may double more than once in the step; the arrays
  // it leaves behind are freed as it goes, at most half the last one live
  // beside it.
  auto growth = [](std::size_t capacity, std::size_t now) -> std::uint64_t {
    if (capacity == now) return 0;
    return ArrayCost<void*>(capacity) + ArrayCost<void*>(capacity / 2);
  };
  bytes += growth(decltype(nodes_)::CapacityFor(nodes_.size() + segments,
                                                nodes_.capacity()),
                  nodes_.capacity());
  bytes += growth(
      decltype(locks_)::CapacityFor(locks_.size() + 1, locks_.capacity()),
      locks_.capacity());
  const std::uint64_t spare = stats_.locks_pending + 1;
  if (spare_.capacity() < spare) {
    bytes += ArrayCost<Acquisition>(
        std::max<std::uint64_t>(spare, 2 * spare_.capacity()));
  }
  return bytes;
}

void LockTable::Settle(std::uint64_t charged, std::uint64_t before) noexcept {
  if (budget_ == nullptr) return;
  const std::uint64_t after = MemoryBytes();
  // What the step added (after - before) against what it was charged.
  const auto added = static_cast<std::int64_t>(after - before);
  const std::int64_t over = added - static_cast<std::int64_t>(charged);
  if (over > 0) {
    budget_->Charge(static_cast<std::uint64_t>(over));
  } else if (over < 0) {
    budget_->Credit(static_cast<std::uint64_t>(-over));
  }
}

std::optional<RequestResult> LockTable::Request(
    std::span<const Resource> resources, const WaiterRef& waiter,
    bool refusable) {
  std::uint64_t charged = 0;
  if (budget_ != nullptr) {
    std::uint64_t own = 0;
    charged = WorstCaseBytes(resources, own);
    if (!refusable) {
      budget_->Charge(charged);
    } else if (!budget_->TryChargeLock(charged, own)) {
      return std::nullopt;
    }
  }
  const std::uint64_t before = MemoryBytes();
  try {
    RequestResult result = Build(resources, waiter);
    Settle(charged, before);
    return result;
  } catch (...) {
    Settle(charged, before);
    throw;
  }
}

RequestResult LockTable::Build(std::span<const Resource> resources,
                               const WaiterRef& waiter) {
  std::uint64_t entries = 0;
  for (const Resource& r : resources) entries += r.path.size() + 1;
  constexpr std::uint64_t kMaxEntries =
      std::numeric_limits<std::uint32_t>::max();
  if (entries > kMaxEntries) {
    throw std::length_error("a lock of more than 2^32 - 1 entries");
  }
  // Everything that may throw before the lock exists.
  locks_.Reserve(locks_.size() + 1);
  Lock* lock = NewLock(static_cast<std::uint32_t>(entries));

  lock->id = stats_.last_id + 1;
  lock->resources = static_cast<std::uint32_t>(resources.size());
  locks_.Insert(lock, LockHash::Hash(*lock));  // reserved: never throws
  Link(*lock);
  const Stats saved = stats_;
  stats_.last_id = lock->id;
  std::uint32_t built = 0;
  try {
    for (const Resource& r : resources) {
      const bool is_write = r.access == Access::kWrite;
      Node* node = &root_;
      for (const std::string& segment : r.path) {
        Append(*new (&lock->entries()[built])
                   Entry{.node = node,
                         .index = built,
                         .mode = is_write ? kIntentWrite : kIntentRead});
        ++built;
        node = &Child(*node, segment);
      }
      Append(*new (&lock->entries()[built]) Entry{
          .node = node, .index = built, .mode = is_write ? kWrite : kRead});
      ++built;
    }
    // Room to collect its acquisition; a lock acquired now needs none.
    if (lock->pending != 0) ReserveSpare(1);
  } catch (...) {
    Unbuild(*lock, built);
    stats_ = saved;
    Unlink(*lock);
    locks_.Erase(lock);
    Free(lock);
    throw;
  }

  const bool acquired = lock->pending == 0;
  lock->waiter = waiter;
  (acquired ? acquired_ : pending_).Append(*lock, &Lock::by_state);
  (acquired ? stats_.locks_acquired : stats_.locks_pending) += 1;
  (acquired ? stats_.resources_acquired : stats_.resources_pending) +=
      lock->resources;
  return {.id = lock->id, .acquired = acquired};
}

void LockTable::LockList::Append(Lock& lock, Links Lock::*links) noexcept {
  (lock.*links).prev = last;
  (lock.*links).next = nullptr;
  (last == nullptr ? first : (last->*links).next) = &lock;
  last = &lock;
}

void LockTable::LockList::Remove(Lock& lock, Links Lock::*links) noexcept {
  Links& l = lock.*links;
  (l.prev == nullptr ? first : (l.prev->*links).next) = l.next;
  (l.next == nullptr ? last : (l.next->*links).prev) = l.prev;
  l.prev = l.next = nullptr;
}

void LockTable::Link(Lock& lock) noexcept { live_.Append(lock, &Lock::live); }

void LockTable::Unlink(Lock& lock) noexcept { live_.Remove(lock, &Lock::live); }

void LockTable::Unbuild(Lock& lock, std::uint32_t count) noexcept {
  lock.releasing = true;
  // Newest entry first: a resource's own node goes before its ancestors, so a
  // node is pruned only after every entry and child below it is gone.
  for (std::uint32_t i = count; i-- > 0;) {
    Entry& entry = lock.entries()[i];
    Remove(entry);
    PruneIfEmpty(*entry.node);
  }
}

ReleaseResult LockTable::Release(LockId id) {
  Lock* lock = locks_.Find(LockHash::HashId(id),
                           [id](const Lock& l) { return l.id == id; });
  if (lock == nullptr) return {};
  const std::uint64_t before = MemoryBytes();
  // The only allocation that may throw, before anything changes: room to
  // collect the acquisitions (after a result that took the spare).
  ReserveSpare(0);

  const bool was_acquired = lock->pending == 0;
  (was_acquired ? stats_.locks_acquired : stats_.locks_pending) -= 1;
  (was_acquired ? stats_.resources_acquired : stats_.resources_pending) -=
      lock->resources;
  (was_acquired ? acquired_ : pending_).Remove(*lock, &Lock::by_state);
  Unbuild(*lock, lock->entry_count);
  Unlink(*lock);
  locks_.Erase(lock);
  Free(lock);

  ReleaseResult result{.found = true};
  std::sort(
      spare_.begin(), spare_.end(),
      [](const Acquisition& a, const Acquisition& b) { return a.id < b.id; });
  // O(1) per acquisition, as collecting it in spare_ is (not counted as
  // work either): invariant 7's order.
  for (const Acquisition& acquisition : spare_) {
    const LockId acquired_id = acquisition.id;
    Lock* acquired = locks_.Find(
        LockHash::HashId(acquired_id),
        [acquired_id](const Lock& l) { return l.id == acquired_id; });
    acquired_.Append(*acquired, &Lock::by_state);
  }
  if (!spare_.empty()) {
    try {
      result.acquired.reserve(spare_.size());
      std::move(spare_.begin(), spare_.end(),
                std::back_inserter(result.acquired));
      spare_.clear();
    } catch (const std::bad_alloc&) {
      result.acquired.swap(spare_);  // the next step makes a new spare
    }
  }
  Shrink();
  Settle(0, before);
  return result;
}

void LockTable::Shrink() noexcept {
  nodes_.ShrinkIfSparse();
  locks_.ShrinkIfSparse();
  const std::uint64_t pending = stats_.locks_pending;
  if (locks_.size() == 0) {
    std::vector<Acquisition>().swap(spare_);
  } else if (spare_.capacity() > 4 * pending + kIdleSpare) {
    try {
      std::vector<Acquisition> smaller;
      smaller.reserve(2 * pending);
      spare_.swap(smaller);
    } catch (const std::bad_alloc&) {
      // Keeps the larger one.
    }
  }
}

LockState LockTable::State(LockId id) const {
  const Lock* lock = locks_.Find(LockHash::HashId(id),
                                 [id](const Lock& l) { return l.id == id; });
  if (lock == nullptr) return LockState::kNone;
  return lock->pending == 0 ? LockState::kAcquired : LockState::kEnqueued;
}

WaiterRef LockTable::WaiterOf(LockId id) const {
  const Lock* lock = locks_.Find(LockHash::HashId(id),
                                 [id](const Lock& l) { return l.id == id; });
  return lock == nullptr ? WaiterRef() : lock->waiter;
}

// Merges lists of entries, each ascending by lock ID and read from the
// entry it is added with while IDs stay below `below`, into their distinct
// locks, ascending. One lock may have several entries in one list and in
// several lists: they come out together, and only the first counts. Each
// entry taken costs one unit of `work` and O(log lists).
class LockTable::Merge {
 public:
  Merge(LockId below, std::uint64_t& work) : below_(below), work_(work) {}

  // Adds the list read from `entry` (may be null). Call before Next.
  void Add(const Entry* entry) {
    if (entry != nullptr && LockOf(*entry).id < below_) {
      heap_.push_back({LockOf(*entry).id, entry});
    }
  }

  // Makes the added lists one heap, each once: a list added twice would
  // give each of its entries twice.
  void Start() {
    std::sort(heap_.begin(), heap_.end(), [](const Head& a, const Head& b) {
      return std::less<const Entry*>{}(a.entry, b.entry);
    });
    heap_.erase(std::unique(heap_.begin(), heap_.end(),
                            [](const Head& a, const Head& b) {
                              return a.entry == b.entry;
                            }),
                heap_.end());
    work_ += heap_.size();
    std::make_heap(heap_.begin(), heap_.end(), Later);
  }

  // The next lock, or nullptr when the lists are used up.
  const Lock* Next() {
    while (!heap_.empty()) {
      ++work_;
      std::pop_heap(heap_.begin(), heap_.end(), Later);
      Head& head = heap_.back();
      const Lock& lock = LockOf(*head.entry);
      const Entry* next = head.entry->next;
      if (next != nullptr && LockOf(*next).id < below_) {
        head = {LockOf(*next).id, next};
        std::push_heap(heap_.begin(), heap_.end(), Later);
      } else {
        heap_.pop_back();
      }
      if (lock.id != last_) {
        last_ = lock.id;
        return &lock;
      }
    }
    return nullptr;
  }

 private:
  struct Head {
    LockId id;
    const Entry* entry;
  };
  // The heap's order: the smallest ID on top.
  static bool Later(const Head& a, const Head& b) { return a.id > b.id; }

  std::vector<Head> heap_;
  const LockId below_;
  LockId last_ = 0;  // the last lock returned; 0 is never a lock
  std::uint64_t& work_;
};

OldestLocks LockTable::Oldest() const {
  OldestLocks oldest;
  if (const Lock* lock = pending_.first) {
    oldest.enqueued = Acquisition{lock->id, lock->waiter};
  }
  if (const Lock* lock = acquired_.first) {
    oldest.acquired = Acquisition{lock->id, lock->waiter};
  }
  return oldest;
}

Inspection LockTable::Inspect(const InspectQuery& query) const {
  Inspection result{.live = locks_.size()};
  // Lists `lock`, or says there are more when the limit is reached.
  auto list = [&](const Lock& lock) {
    if (result.locks.size() == query.limit) {
      result.more = true;
      return false;
    }
    result.locks.push_back(Describe(lock, query.max_blockers));
    return true;
  };
  if (query.path.empty()) {
    for (const Lock* lock = live_.first; lock != nullptr;
         lock = lock->live.next) {
      ++work_;
      if (!list(*lock)) break;
    }
    return result;
  }
  // A resource overlaps the path when it is the path or above it (its real
  // entry is on a node of the walk) or below it (an intention entry on the
  // path's own node). With no such node, nothing is below it.
  Merge merge(kNoLimit, work_);
  const Node* node = &root_;
  for (std::size_t depth = 0;; ++depth) {
    ++work_;
    merge.Add(node->lists[kRead].head);
    merge.Add(node->lists[kWrite].head);
    if (depth == query.path.size()) {
      merge.Add(node->lists[kIntentRead].head);
      merge.Add(node->lists[kIntentWrite].head);
      break;
    }
    const std::string& segment = query.path[depth];
    node = FindChild(*node, segment, HashKey(node, segment));
    if (node == nullptr) break;
  }
  merge.Start();
  while (const Lock* lock = merge.Next()) {
    if (!list(*lock)) break;
  }
  return result;
}

LockInfo LockTable::Describe(const Lock& lock, std::size_t max_blockers) const {
  LockInfo info{
      .id = lock.id,
      .state = lock.pending == 0 ? LockState::kAcquired : LockState::kEnqueued,
      .waiter = lock.waiter};
  info.resources.reserve(lock.resources);
  // A resource is the intention entries before its real entry: as many as
  // its path's segments, which its real entry's node and ancestors name.
  std::size_t depth = 0;
  for (std::uint32_t i = 0; i < lock.entry_count; ++i) {
    ++work_;
    const Entry& entry = lock.entries()[i];
    if (entry.mode == kIntentRead || entry.mode == kIntentWrite) {
      ++depth;
      continue;
    }
    Resource& resource = info.resources.emplace_back();
    resource.access = entry.mode == kWrite ? Access::kWrite : Access::kRead;
    resource.path.resize(depth);
    const Node* node = entry.node;
    for (std::size_t d = depth; d-- > 0; node = node->parent) {
      ++work_;
      resource.path[d] = node->segment();
    }
    depth = 0;
  }
  if (lock.pending == 0) return info;
  // The blockers: entries of an earlier lock that conflict with one of its
  // own, on the same node.
  Merge merge(lock.id, work_);
  for (std::uint32_t i = 0; i < lock.entry_count; ++i) {
    const Entry& entry = lock.entries()[i];
    for (int m = 0; m < kModes; ++m) {
      if (kConflicts[entry.mode] >> m & 1) {
        merge.Add(entry.node->lists[m].head);
      }
    }
  }
  merge.Start();
  while (const Lock* blocker = merge.Next()) {
    if (info.waits_for.size() == max_blockers) {
      info.waits_for_more = true;
      break;
    }
    info.waits_for.push_back(blocker->id);
  }
  return info;
}

std::size_t LockTable::ReservedSlots() const {
  return nodes_.capacity() + locks_.capacity();
}

}  // namespace locktopus
