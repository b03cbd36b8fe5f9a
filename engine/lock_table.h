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
//
// Thread safety: none; the caller serialises every call.

#ifndef LOCKTOPUS_ENGINE_LOCK_TABLE_H_
#define LOCKTOPUS_ENGINE_LOCK_TABLE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/types.h"

namespace locktopus {

class LockTable {
 public:
  explicit LockTable(LockId last_id);
  ~LockTable();
  LockTable(const LockTable&) = delete;
  LockTable& operator=(const LockTable&) = delete;

  // As LockSpace's, but for `step`, which the caller fills in.
  RequestResult Request(std::span<const Resource> resources,
                        const WaiterRef& waiter);
  ReleaseResult Release(LockId id);
  LockState State(LockId id) const;
  Stats GetStats() const { return stats_; }
  std::uint64_t Work() const { return work_; }
  std::size_t ReservedSlots() const;

 private:
  enum Mode : std::uint8_t { kIntentRead, kIntentWrite, kRead, kWrite };
  static constexpr int kModes = 4;

  struct Lock;
  struct Node;

  struct Entry {
    Lock* lock = nullptr;
    Node* node = nullptr;
    Entry* prev = nullptr;
    Entry* next = nullptr;
    Mode mode = kRead;
  };

  struct ModeList {
    Entry* head = nullptr;
    Entry* tail = nullptr;
    Entry* boundary = nullptr;  // first entry that is not clear
  };

  struct Node {
    Node* parent = nullptr;
    std::string segment;
    // Keys view each child's own `segment`.
    std::unordered_map<std::string_view, std::unique_ptr<Node>> children;
    std::array<ModeList, kModes> lists;

    bool Empty() const;
  };

  struct Lock {
    LockId id = 0;
    std::uint64_t resources = 0;
    std::uint64_t pending = 0;    // entries not yet clear
    bool releasing = false;       // being removed: never reported acquired
    WaiterRef waiter;             // while enqueued: whom to tell
    std::vector<Entry> entries;   // creation order; never reallocated
  };

  // Appends `entry` to its node's list and decides whether it is clear.
  void Append(Entry& entry);
  // Unlinks `entry`; if it was a head, advances the lists it blocked.
  void Remove(Entry& entry, std::vector<Acquisition>& acquired);
  // Moves the boundary of `node`'s list `mode` past every entry now clear.
  void Advance(Node& node, Mode mode, std::vector<Acquisition>& acquired);
  // The largest lock ID an entry of `mode` on `node` may have and be clear.
  LockId ClearLimit(const Node& node, Mode mode) const;
  Node& Child(Node& node, const std::string& segment);
  // Frees `node` (not the root) if it has no entries and no children.
  void PruneIfEmpty(Node& node);
  // Hands the lock's waiter back with its ID.
  void OnAcquired(Lock& lock, std::vector<Acquisition>& acquired);

  std::unique_ptr<Node> root_;
  // Node-based: a Lock never moves while it is live, so entries point to it.
  std::unordered_map<LockId, Lock> locks_;
  Stats stats_;
  std::uint64_t work_ = 0;
};

}  // namespace locktopus

#endif  // LOCKTOPUS_ENGINE_LOCK_TABLE_H_
