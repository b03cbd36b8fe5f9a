// An open-addressing hash set of pointers, for LockTable's two indexes (path
// nodes by parent and segment, locks by ID). Internal to engine/.
//
// Structure: a power-of-two array of slots, each an item pointer or nullptr;
// linear probing from the slot a 64-bit hash picks (its top bits, after a
// Fibonacci multiply). Items keep their own keys; `Hash(const T&)` (a static
// function of H) recomputes an item's hash when it has to move. Deletion
// shifts the rest of the cluster back, so there are no tombstones.
//
// Invariants:
//   1. size() <= capacity() * 3 / 4 after every Insert: probes stay short.
//   2. Every item sits between its home slot and the first empty slot after
//      it (no empty slot between home and item).
//   3. capacity() is 0 or a power of two >= kMinCapacity. An empty set holds
//      no array at all.
//
// Exceptions: Insert and Reserve may throw std::bad_alloc while growing, and
// then change nothing. Every other member is noexcept; shrinking gives up
// quietly when it cannot allocate.
//
// Thread safety: none; LockTable's caller serialises every call.

#ifndef LOCKTOPUS_ENGINE_POINTER_SET_H_
#define LOCKTOPUS_ENGINE_POINTER_SET_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

namespace locktopus {

template <class T, class H>
class PointerSet {
 public:
  static constexpr std::size_t kMinCapacity = 8;

  PointerSet() = default;
  PointerSet(const PointerSet&) = delete;
  PointerSet& operator=(const PointerSet&) = delete;

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }

  // The capacity Insert grows to for `size` items, from `capacity`.
  static std::size_t CapacityFor(std::size_t size, std::size_t capacity) {
    if (capacity == 0) capacity = kMinCapacity;
    while (size > capacity / 4 * 3) capacity *= 2;
    return capacity;
  }

  // The item with `hash` for which `match(item)` holds, or nullptr.
  template <class Match>
  T* Find(std::uint64_t hash, Match match) const {
    if (capacity_ == 0) return nullptr;
    for (std::size_t i = Home(hash);; i = Next(i)) {
      T* item = slots_[i];
      if (item == nullptr) return nullptr;
      if (match(*item)) return item;
    }
  }

  // Adds `item`, which is not in the set, under `hash`.
  void Insert(T* item, std::uint64_t hash) {
    Reserve(size_ + 1);
    Place(item, hash);
    ++size_;
  }

  // Makes room for `size` items without growing again.
  void Reserve(std::size_t size) {
    const std::size_t capacity = CapacityFor(size, capacity_);
    if (capacity != capacity_) Rehash(capacity);
  }

  // Removes `item`, which is in the set.
  void Erase(const T* item) noexcept {
    std::size_t hole = Home(H::Hash(*item));
    while (slots_[hole] != item) hole = Next(hole);
    // Backward shift: pull each later item of the cluster into the hole if
    // the hole lies between its home and its slot (invariant 2).
    for (std::size_t i = Next(hole); slots_[i] != nullptr; i = Next(i)) {
      const std::size_t home = Home(H::Hash(*slots_[i]));
      if (((i - home) & mask_) >= ((i - hole) & mask_)) {
        slots_[hole] = slots_[i];
        hole = i;
      }
    }
    slots_[hole] = nullptr;
    --size_;
  }

  // Gives memory back: none at all once empty; half when under 3/16 full.
  void ShrinkIfSparse() noexcept {
    if (size_ == 0) {
      slots_.reset();
      capacity_ = 0;
      mask_ = 0;
      return;
    }
    if (capacity_ <= kMinCapacity || size_ >= capacity_ / 16 * 3) return;
    try {
      Rehash(capacity_ / 2);
    } catch (const std::bad_alloc&) {
      // Keeps the larger array: still a valid set.
    }
  }

  // Calls `fn(item)` for every item, in no particular order.
  template <class Fn>
  void ForEach(Fn fn) const {
    for (std::size_t i = 0; i < capacity_; ++i) {
      if (slots_[i] != nullptr) fn(slots_[i]);
    }
  }

 private:
  std::size_t Home(std::uint64_t hash) const {
    return static_cast<std::size_t>((hash * 0x9E3779B97F4A7C15u) >> shift_);
  }
  std::size_t Next(std::size_t i) const { return (i + 1) & mask_; }

  void Place(T* item, std::uint64_t hash) noexcept {
    std::size_t i = Home(hash);
    while (slots_[i] != nullptr) i = Next(i);
    slots_[i] = item;
  }

  // Moves every item to a new array of `capacity` slots.
  void Rehash(std::size_t capacity) {
    std::unique_ptr<T*[]> slots(new T*[capacity]());  // may throw
    std::unique_ptr<T*[]> old = std::exchange(slots_, std::move(slots));
    const std::size_t old_capacity = std::exchange(capacity_, capacity);
    mask_ = capacity - 1;
    shift_ = 64 - std::countr_zero(capacity);
    for (std::size_t i = 0; i < old_capacity; ++i) {
      if (old[i] != nullptr) Place(old[i], H::Hash(*old[i]));
    }
  }

  std::unique_ptr<T*[]> slots_;
  std::size_t capacity_ = 0;
  std::size_t mask_ = 0;
  int shift_ = 64;
  std::size_t size_ = 0;
};

}  // namespace locktopus

#endif  // LOCKTOPUS_ENGINE_POINTER_SET_H_
