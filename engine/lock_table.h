// The single-threaded lock algorithm behind LockSpace (engine.h adds the
// mutex). Internal to engine/: nothing outside it includes this header.
//
// Data structure: multiple-granularity locking on a trie of path nodes.
// Every resource of a lock puts a real entry (R or W) on its own node and an
// intention entry (IR or IW) on each ancestor, root included. Two locks
// conflict exactly when they have conflicting entries on some node:
//
//          IR  IW  R   W
//     IR   .   .   .   x
//     IW   .   .   x   x
//     R    .   x   .   x
//     W    x   x   x   x
//
// Each node keeps one list per mode, ordered by lock ID (entries are appended
// at request time, and IDs only grow).
//
// Invariants, for every node n and mode m:
//   1. An entry e is clear when no entry on n of a mode conflicting with m has
//      a smaller lock ID: e.id <= ClearLimit(n, m), the smallest ID at the
//      head of a conflicting mode's list. Entries of one lock never block each
//      other, so the comparison is <=.
//   2. The clear entries of list m are a prefix of it; `boundary` is the first
//      entry that is not clear (nullptr when all are). ClearLimit only grows
//      while an entry lives, so the boundary only moves forward and each entry
//      is passed over once.
//   3. lock.pending is the number of its entries that are not clear; the lock
//      is acquired exactly when it is 0.
//   4. A node other than the root exists exactly while it has an entry or a
//      child; so the non-root nodes are the non-empty prefixes of the
//      resource paths of live locks.
//   5. MemoryBytes() is what the table holds on the heap now, by
//      AllocationCost of each block: its nodes, its locks (each with its
//      entries), the arrays of its two indexes and the spare list. An idle
//      table holds none.
//   6. Every live lock is on one list ascending by ID (live_, through each
//      lock's `live` links): appended when built, unlinked when removed. A
//      lock keeps the waiter its request named until it is removed.
//   7. Every live lock is also on the list of its state (through its
//      `by_state` links): pending_, ascending by ID; acquired_, in the
//      order the locks were acquired (of one step's, ascending by ID).
//
// Memory layout, for few bytes per node (bench/engine_memory.cc measures):
//   - a node is one block: its fields, then its segment's bytes. No node has
//     a container of children: one index of the whole table finds a child by
//     (parent, segment), and a node only counts its children;
//   - a list is a head and a boundary: the head's `prev` is the tail;
//   - a lock is one block: its fields (its two neighbours on the list of
//     live locks among them), then its entries, which find their lock by
//     their index in it.
//
// Inspect reads the structure without changing it: every live lock from the
// list of invariant 6; the locks overlapping a path as a merge of ID-ordered
// lists of the nodes down that path (real entries on it and above it,
// intention entries on its own node); an enqueued lock's blockers as a
// merge of the lists, on each node it has an entry on, of the modes its
// entry conflicts with, read while their IDs are smaller than its own. Each
// merge stops at the first lock past its limit; a resource's path is read
// back from its real entry's node up the parents.
//
// Exceptions: a step that throws (std::bad_alloc, or std::length_error for a
// lock beyond 2^32 entries) changes nothing but the capacity of the indexes
// and of the spare list. Request undoes what it built. Release allocates
// only before it changes anything: the spare list always has room for every
// pending lock, so acquisitions are collected without allocating, and a
// result that cannot be allocated takes the spare itself.
//
// Memory budget: with a MemoryBudget, a request is first charged the most
// it can make the table allocate (WorstCaseBytes: every node new, both
// indexes grown), or refused, changing nothing, when the budget cannot take
// it (MemoryBudget::TryChargeLock). After the step the charge is brought to
// what was really allocated, and a release gives back what it frees. The
// budget is an atomic counter: nothing is called under the mutex.
//
// Thread safety: none; the caller serialises every call.

#ifndef LOCKTOPUS_ENGINE_LOCK_TABLE_H_
#define LOCKTOPUS_ENGINE_LOCK_TABLE_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "engine/pointer_set.h"
#include "engine/types.h"

namespace locktopus {

class MemoryBudget;

// The heap bytes a block of `bytes` takes: glibc's chunk, the request and an
// 8-byte header in 16-byte steps (at least 32), or whole pages from the
// mmap threshold on. 0 for 0.
std::uint64_t AllocationCost(std::uint64_t bytes);

class LockTable {
 public:
  // `budget` may be null: nothing is charged.
  LockTable(LockId last_id, MemoryBudget* budget);
  ~LockTable();
  LockTable(const LockTable&) = delete;
  LockTable& operator=(const LockTable&) = delete;

  // As LockSpace's, but for `step`, which the caller fills in. With
  // `refusable`, a request the budget cannot cover returns nullopt; without,
  // it is charged whatever the budget's limit.
  std::optional<RequestResult> Request(std::span<const Resource> resources,
                                       const WaiterRef& waiter, bool refusable);
  ReleaseResult Release(LockId id);
  // As LockSpace's.
  void SkipTo(LockId last_id) {
    if (last_id > stats_.last_id) stats_.last_id = last_id;
  }
  LockState State(LockId id) const;
  WaiterRef WaiterOf(LockId id) const;
  // As LockSpace's. Changes nothing but Work().
  Inspection Inspect(const InspectQuery& query) const;
  OldestLocks Oldest() const;
  Stats GetStats() const { return stats_; }
  // Invariant 5.
  std::uint64_t MemoryBytes() const;
  std::uint64_t Work() const { return work_; }
  std::size_t ReservedSlots() const;

 private:
  enum Mode : std::uint8_t { kIntentRead, kIntentWrite, kRead, kWrite };
  static constexpr int kModes = 4;

  struct Lock;
  struct Node;

  struct Entry {
    Node* node = nullptr;
    Entry* prev = nullptr;  // the head's is the tail
    Entry* next = nullptr;
    std::uint32_t index = 0;  // in its lock's entries
    Mode mode = kRead;
  };

  struct ModeList {
    Entry* head = nullptr;
    Entry* boundary = nullptr;  // first entry that is not clear
  };

  // Followed in its block by `size` bytes of segment.
  struct Node {
    Node* parent = nullptr;
    std::array<ModeList, kModes> lists;
    std::uint32_t children = 0;
    std::uint32_t size = 0;

    std::string_view segment() const {
      return {reinterpret_cast<const char*>(this + 1), size};
    }
    bool Empty() const;
  };

  // Followed in its block by `entry_count` entries, in creation order: for
  // each resource, an intention entry on each ancestor from the root down,
  // then its real entry.
  // A lock's place on one of the table's lists of locks (LockList).
  struct Links {
    Lock* prev = nullptr;
    Lock* next = nullptr;
  };
  struct LockList {
    Lock* first = nullptr;
    Lock* last = nullptr;
    void Append(Lock& lock, Links Lock::*links) noexcept;
    void Remove(Lock& lock, Links Lock::*links) noexcept;
  };

  struct Lock {
    LockId id = 0;
    WaiterRef waiter;  // whom its request named, for its whole life
    Links live;        // on live_ (invariant 6)
    Links by_state;    // on pending_ or acquired_ (invariant 7)
    std::uint32_t entry_count = 0;
    std::uint32_t pending = 0;  // entries not yet clear
    std::uint32_t resources = 0;
    bool releasing = false;  // being removed: never reported acquired

    Entry* entries() { return reinterpret_cast<Entry*>(this + 1); }
    const Entry* entries() const {
      return reinterpret_cast<const Entry*>(this + 1);
    }
  };
  static_assert(sizeof(Lock) % alignof(Entry) == 0);
  static_assert(sizeof(Node) % alignof(Node) == 0);

  struct NodeHash {
    static std::uint64_t Hash(const Node& node);
  };
  struct LockHash {
    static std::uint64_t HashId(LockId id) { return id; }
    static std::uint64_t Hash(const Lock& lock);
  };

  static Lock& LockOf(const Entry& entry) {
    return *(reinterpret_cast<Lock*>(const_cast<Entry*>(&entry) - entry.index) -
             1);
  }

  // The distinct locks of some ID-ordered lists, ascending by ID (a k-way
  // merge); defined in lock_table.cc.
  class Merge;

  // The most a request of `resources` can add to MemoryBytes(), and to the
  // heap in the step (an index's old array lives until its new one is
  // filled); `own` is set to the part that is the lock's own blocks.
  std::uint64_t WorstCaseBytes(std::span<const Resource> resources,
                               std::uint64_t& own) const;
  // Builds the lock; on an exception undoes it all and rethrows.
  RequestResult Build(std::span<const Resource> resources,
                      const WaiterRef& waiter);
  // Removes the first `count` entries of `lock`, newest first, pruning the
  // nodes they leave empty.
  void Unbuild(Lock& lock, std::uint32_t count) noexcept;
  // Makes room in spare_ for every pending lock and `extra` more.
  void ReserveSpare(std::uint64_t extra);

  // Appends `entry` to its node's list and decides whether it is clear.
  void Append(Entry& entry) noexcept;
  // Unlinks `entry`; if it was a head, advances the lists it blocked.
  void Remove(Entry& entry) noexcept;
  // Moves the boundary of `node`'s list `mode` past every entry now clear,
  // collecting the locks this acquires in spare_.
  void Advance(Node& node, Mode mode) noexcept;
  // The largest lock ID an entry of `mode` on `node` may have and be clear.
  LockId ClearLimit(const Node& node, Mode mode) const;
  // The child of `node` named `segment`, made if missing.
  Node& Child(Node& node, std::string_view segment);
  // The child of `node` named `segment` whose hash is `hash`, or nullptr.
  Node* FindChild(const Node& node, std::string_view segment,
                  std::uint64_t hash) const;
  // Appends `lock` to the list of live locks, or unlinks it (invariant 6).
  void Link(Lock& lock) noexcept;
  void Unlink(Lock& lock) noexcept;
  // What Inspect lists of `lock`: its resources read back from its
  // entries, and if enqueued at most `max_blockers` of its blockers.
  LockInfo Describe(const Lock& lock, std::size_t max_blockers) const;
  // Frees `node` (not the root) if it has no entries and no children.
  void PruneIfEmpty(Node& node) noexcept;
  void OnAcquired(Lock& lock) noexcept;
  // Gives back index memory a smaller table no longer needs.
  void Shrink() noexcept;
  // Charges or credits the budget the difference between `charged` and what
  // MemoryBytes() grew by since it was `before`.
  void Settle(std::uint64_t charged, std::uint64_t before) noexcept;
  Lock* NewLock(std::uint32_t entries);
  Node* NewNode(Node& parent, std::string_view segment);
  void Free(Lock* lock) noexcept;
  void Free(Node* node) noexcept;

  Node root_;  // no segment: never looked up, never freed
  PointerSet<Node, NodeHash> nodes_;  // every node but the root
  PointerSet<Lock, LockHash> locks_;  // every live lock
  LockList live_;                     // invariant 6
  LockList pending_;                  // invariant 7
  LockList acquired_;
  // Room for an acquisition of every pending lock (see Exceptions above);
  // the acquisitions of the current step while it runs.
  std::vector<Acquisition> spare_;
  MemoryBudget* const budget_;
  Stats stats_;
  std::uint64_t block_bytes_ = 0;  // of the nodes and locks
  // Counted by Inspect too, which changes nothing else.
  mutable std::uint64_t work_ = 0;
};

}  // namespace locktopus

#endif  // LOCKTOPUS_ENGINE_LOCK_TABLE_H_
