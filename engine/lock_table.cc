#include "engine/lock_table.h"

#include <algorithm>
#include <limits>

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

// A space with no live locks keeps at most this many slots allocated.
constexpr std::size_t kIdleSlots = 64;

}  // namespace

bool LockTable::Node::Empty() const {
  return children.empty() &&
         std::all_of(lists.begin(), lists.end(),
                     [](const ModeList& list) { return list.head == nullptr; });
}

LockTable::LockTable(LockId last_id) : root_(std::make_unique<Node>()) {
  stats_.last_id = last_id;
}

LockTable::~LockTable() = default;

LockId LockTable::ClearLimit(const Node& node, Mode mode) const {
  LockId limit = kNoLimit;
  for (int m = 0; m < kModes; ++m) {
    const Entry* head = node.lists[m].head;
    if ((kConflicts[mode] >> m & 1) && head != nullptr) {
      limit = std::min(limit, head->lock->id);
    }
  }
  return limit;
}

LockTable::Node& LockTable::Child(Node& node, const std::string& segment) {
  ++work_;
  auto it = node.children.find(segment);
  if (it != node.children.end()) return *it->second;
  auto child = std::make_unique<Node>();
  child->parent = &node;
  child->segment = segment;
  Node& ref = *child;
  node.children.emplace(ref.segment, std::move(child));
  ++stats_.path_count;
  return ref;
}

void LockTable::Append(Entry& entry) {
  ++work_;
  ModeList& list = entry.node->lists[entry.mode];
  entry.prev = list.tail;
  (list.tail != nullptr ? list.tail->next : list.head) = &entry;
  list.tail = &entry;
  // A later entry can only be clear if every entry before it is (invariant 2).
  if (list.boundary == nullptr &&
      entry.lock->id <= ClearLimit(*entry.node, entry.mode)) {
    return;
  }
  ++entry.lock->pending;
  if (list.boundary == nullptr) list.boundary = &entry;
}

void LockTable::Advance(Node& node, Mode mode, std::vector<Acquisition>& acquired) {
  ++work_;
  ModeList& list = node.lists[mode];
  const LockId limit = ClearLimit(node, mode);
  while (list.boundary != nullptr && list.boundary->lock->id <= limit) {
    ++work_;
    Lock& lock = *list.boundary->lock;
    list.boundary = list.boundary->next;
    if (--lock.pending == 0 && !lock.releasing) OnAcquired(lock, acquired);
  }
}

void LockTable::Remove(Entry& entry, std::vector<Acquisition>& acquired) {
  ++work_;
  Node& node = *entry.node;
  ModeList& list = node.lists[entry.mode];
  const bool was_head = list.head == &entry;
  if (list.boundary == &entry) list.boundary = entry.next;
  (entry.prev != nullptr ? entry.prev->next : list.head) = entry.next;
  (entry.next != nullptr ? entry.next->prev : list.tail) = entry.prev;
  // Only a head takes part in ClearLimit: removing one may clear entries of
  // every mode it conflicts with.
  if (!was_head) return;
  for (int m = 0; m < kModes; ++m) {
    if (kConflicts[entry.mode] >> m & 1) {
      Advance(node, static_cast<Mode>(m), acquired);
    }
  }
}

void LockTable::PruneIfEmpty(Node& node) {
  if (&node == root_.get() || !node.Empty()) return;
  auto& siblings = node.parent->children;
  siblings.erase(siblings.find(node.segment));  // destroys `node`
  --stats_.path_count;
}

void LockTable::OnAcquired(Lock& lock, std::vector<Acquisition>& acquired) {
  acquired.push_back({lock.id, std::move(lock.waiter)});
  --stats_.locks_pending;
  ++stats_.locks_acquired;
  stats_.resources_pending -= lock.resources;
  stats_.resources_acquired += lock.resources;
}

RequestResult LockTable::Request(std::span<const Resource> resources,
                                 const WaiterRef& waiter) {
  const LockId id = ++stats_.last_id;
  Lock& lock = locks_.try_emplace(id).first->second;
  lock.id = id;
  lock.resources = resources.size();

  std::size_t entries = 0;
  for (const Resource& r : resources) entries += r.path.size() + 1;
  lock.entries.resize(entries);

  auto entry = lock.entries.begin();
  for (const Resource& r : resources) {
    const bool is_write = r.access == Access::kWrite;
    Node* node = root_.get();
    for (const std::string& segment : r.path) {
      *entry = {.lock = &lock,
                .node = node,
                .mode = is_write ? kIntentWrite : kIntentRead};
      Append(*entry++);
      node = &Child(*node, segment);
    }
    *entry = {.lock = &lock, .node = node, .mode = is_write ? kWrite : kRead};
    Append(*entry++);
  }

  const bool acquired = lock.pending == 0;
  if (!acquired) lock.waiter = waiter;
  (acquired ? stats_.locks_acquired : stats_.locks_pending) += 1;
  (acquired ? stats_.resources_acquired : stats_.resources_pending) +=
      lock.resources;
  return {.id = id, .acquired = acquired};
}

ReleaseResult LockTable::Release(LockId id) {
  auto it = locks_.find(id);
  if (it == locks_.end()) return {};
  Lock& lock = it->second;
  const bool was_acquired = lock.pending == 0;
  lock.releasing = true;

  ReleaseResult result{.found = true};
  // Newest entry first: a resource's own node goes before its ancestors, so a
  // node is pruned only after every entry and child below it is gone.
  for (auto e = lock.entries.rbegin(); e != lock.entries.rend(); ++e) {
    Remove(*e, result.acquired);
    PruneIfEmpty(*e->node);
  }

  (was_acquired ? stats_.locks_acquired : stats_.locks_pending) -= 1;
  (was_acquired ? stats_.resources_acquired : stats_.resources_pending) -=
      lock.resources;
  locks_.erase(it);
  // An idle space gives back what its busiest moment made it allocate.
  if (locks_.empty() && locks_.bucket_count() > kIdleSlots) {
    decltype(locks_)().swap(locks_);
  }
  if (root_->children.empty() && root_->children.bucket_count() > kIdleSlots) {
    decltype(root_->children)().swap(root_->children);
  }
  std::sort(result.acquired.begin(), result.acquired.end(),
            [](const Acquisition& a, const Acquisition& b) {
              return a.id < b.id;
            });
  return result;
}

LockState LockTable::State(LockId id) const {
  auto it = locks_.find(id);
  if (it == locks_.end()) return LockState::kNone;
  return it->second.pending == 0 ? LockState::kAcquired : LockState::kEnqueued;
}

std::size_t LockTable::ReservedSlots() const {
  return locks_.bucket_count() + root_->children.bucket_count();
}

}  // namespace locktopus
