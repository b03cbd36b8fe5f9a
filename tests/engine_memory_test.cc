// The engine under allocation failure, and its memory accounting against
// the heap. A binary of its own: it replaces the global operator new with
// one that counts the heap blocks it hands out and can be told to fail.
//
//   - every step that throws std::bad_alloc, at whichever of its
//     allocations, changes nothing: the same statistics, the same states,
//     and the step retried afterwards answers exactly as the reference
//     model does;
//   - a release whose result cannot be allocated still reports, and so
//     hands over the waiter of, every lock it acquired;
//   - what a space says it holds (MemoryBytes) is within 1 % of the heap
//     bytes its locks made it allocate (glibc now and then hands out a chunk
//     16 bytes larger than asked, to avoid leaving a sliver).

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "model/model_space.h"
#include "tests/test_support.h"

namespace {

// Under a sanitizer malloc is the sanitizer's: chunk sizes are not glibc's.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kGlibcHeap = false;
#else
constexpr bool kGlibcHeap = true;
#endif
#else
constexpr bool kGlibcHeap = true;
#endif

// Allocations left before one fails; negative: none fails.
std::int64_t allocations_until_failure = -1;
// Heap bytes handed out by operator new and not yet given back, in
// glibc's chunks (usable size plus the 8-byte header).
std::int64_t live_heap_bytes = 0;

void* Allocate(std::size_t size) {
  if (allocations_until_failure == 0) {
    allocations_until_failure = -1;
    throw std::bad_alloc();
  }
  if (allocations_until_failure > 0) --allocations_until_failure;
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  live_heap_bytes += static_cast<std::int64_t>(malloc_usable_size(p) + 8);
  return p;
}

void Deallocate(void* p) {
  if (p == nullptr) return;
  live_heap_bytes -= static_cast<std::int64_t>(malloc_usable_size(p) + 8);
  std::free(p);
}

}  // namespace

void* operator new(std::size_t size) { return Allocate(size); }
void* operator new[](std::size_t size) { return Allocate(size); }
void operator delete(void* p) noexcept { Deallocate(p); }
void operator delete[](void* p) noexcept { Deallocate(p); }
void operator delete(void* p, std::size_t) noexcept { Deallocate(p); }
void operator delete[](void* p, std::size_t) noexcept { Deallocate(p); }

namespace locktopus {
namespace {

using testing::Ids;
using testing::R;
using testing::W;

// Random locks over few segments, so that paths share nodes and conflict.
std::vector<Resource> RandomLock(std::mt19937& rng) {
  std::vector<Resource> lock(1 + rng() % 4);
  for (Resource& r : lock) {
    r.access = rng() % 2 ? Access::kRead : Access::kWrite;
    const int depth = static_cast<int>(rng() % 4);
    for (int d = 0; d < depth; ++d) {
      r.path.push_back(std::string(1, static_cast<char>('a' + rng() % 3)));
    }
  }
  return lock;
}

// What a failed step must leave as it was.
struct Snapshot {
  Stats stats;
  std::vector<LockState> states;
  bool operator==(const Snapshot&) const = default;
};

Snapshot Take(const LockSpace& space) {
  Snapshot s{.stats = space.GetStats(), .states = {}};
  for (LockId id = 1; id <= s.stats.last_id + 1; ++id) {
    s.states.push_back(space.State(id));
  }
  return s;
}

// Runs `step` with its 0th, 1st, 2nd, ... allocation failing until it runs
// through; after each failure the space is as before. Returns the step's
// result and counts the failures in `failures`.
template <class Step>
auto UnderFailures(LockSpace& space, Step step, int& failures) {
  const Snapshot before = Take(space);
  for (std::int64_t n = 0;; ++n) {
    allocations_until_failure = n;
    try {
      auto result = step();
      allocations_until_failure = -1;
      return result;
    } catch (const std::bad_alloc&) {
      allocations_until_failure = -1;
      ++failures;
      EXPECT_EQ(Take(space), before) << "after failing allocation " << n;
    }
  }
}

TEST(EngineUnderAllocationFailure, AStepThatThrowsChangesNothing) {
  std::mt19937 rng(15);
  MemoryBudget budget(std::uint64_t{1} << 40);
  LockSpace space(0, &budget);
  model::ModelSpace model;
  std::vector<LockId> live;
  int failures = 0;
  for (int step = 0; step < 2000; ++step) {
    if (live.empty() || rng() % 5 < 3) {
      const std::vector<Resource> lock = RandomLock(rng);
      const RequestResult got = UnderFailures(
          space, [&] { return *space.TryRequest(lock); }, failures);
      const RequestResult want = model.Request(lock);
      ASSERT_EQ(got, want) << "step " << step << ": " << ToString(lock);
      live.push_back(got.id);
    } else {
      const std::size_t i = rng() % live.size();
      const LockId id = live[i];
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
      const ReleaseResult got = UnderFailures(
          space, [&] { return space.Release(id); }, failures);
      ASSERT_EQ(got, model.Release(id)) << "step " << step;
    }
    ASSERT_EQ(space.GetStats(), model.GetStats()) << "step " << step;
    ASSERT_EQ(budget.used(), space.MemoryBytes()) << "step " << step;
  }
  // Allocations failed at every point of many steps.
  EXPECT_GT(failures, 1000);
  for (LockId id : live) space.Release(id);
  EXPECT_EQ(space.MemoryBytes(), 0u);
  EXPECT_EQ(budget.used(), 0u);
}

TEST(EngineUnderAllocationFailure,
     AReleaseWhoseResultCannotBeAllocatedStillTellsEveryWaiter) {
  // Many readers queued behind a writer: the release acquires them all.
  LockSpace space;
  const LockId writer = space.Request(std::vector{W({"config"})}).id;
  for (int i = 0; i < 100; ++i) space.Request(std::vector{R({"config"})});
  // The release's first allocation, its result's, fails: the room made
  // beforehand for every pending lock's acquisition takes its place.
  allocations_until_failure = 0;
  const ReleaseResult result = space.Release(writer);
  EXPECT_EQ(allocations_until_failure, -1) << "no allocation failed";
  allocations_until_failure = -1;
  EXPECT_EQ(result.acquired.size(), 100u);
  EXPECT_EQ(space.GetStats().locks_acquired, 100u);
  // The next release makes room again; a lock enqueued later is told too.
  const LockId reader = result.acquired.front().id;
  const LockId late = space.Request(std::vector{W({"config"})}).id;
  for (const Acquisition& a : result.acquired) {
    if (a.id != reader) space.Release(a.id);
  }
  EXPECT_EQ(Ids(space.Release(reader).acquired), std::vector{late});
}

// Heap bytes that `fill` adds while its locks live, against what the space
// says it holds.
struct Held {
  std::int64_t heap = 0;
  std::uint64_t accounted = 0;
};

template <class Fill>
Held Measure(Fill fill) {
  LockSpace space;
  const std::int64_t before = live_heap_bytes;
  fill(space);
  return {live_heap_bytes - before, space.MemoryBytes()};
}

void ExpectCovered(const Held& held, const char* what) {
  const auto heap = static_cast<double>(held.heap);
  EXPECT_NEAR(static_cast<double>(held.accounted), heap, heap / 100) << what;
}

TEST(EngineMemory, AccountsEveryHeapByteItsLocksMakeItHold) {
  if (!kGlibcHeap) GTEST_SKIP() << "the heap is a sanitizer's";
  ExpectCovered(Measure([](LockSpace& space) {
                  for (int i = 0; i < 10'000; ++i) {
                    space.Request(std::vector{W({"k" + std::to_string(i)})});
                  }
                }),
                "10,000 locks on distinct paths");
  ExpectCovered(Measure([](LockSpace& space) {
                  for (int i = 0; i < 10'000; ++i) {
                    space.Request(std::vector{W({"hot", "path"})});
                  }
                }),
                "10,000 locks queued on one path");
  ExpectCovered(Measure([](LockSpace& space) {
                  std::vector<Resource> lock;
                  for (int p = 0; p < 1024; ++p) {
                    Path path;
                    for (int d = 0; d < 64; ++d) {
                      path.push_back(std::to_string(p) + "/" +
                                     std::to_string(d) + std::string(d, 'x'));
                    }
                    lock.push_back(W(std::move(path)));
                  }
                  space.Request(lock);
                }),
                "1,024 write paths of depth 64, long segments");
}

TEST(EngineMemory, AnIdleSpaceHoldsNothing) {
  LockSpace space;
  std::vector<LockId> ids;
  ids.reserve(1000);
  const std::int64_t before = live_heap_bytes;
  for (int i = 0; i < 1000; ++i) {
    ids.push_back(
        space.Request(std::vector{W({"a", std::to_string(i % 7)})}).id);
  }
  for (LockId id : ids) space.Release(id);
  EXPECT_EQ(space.MemoryBytes(), 0u);
  EXPECT_EQ(live_heap_bytes, before);
}

}  // namespace
}  // namespace locktopus
