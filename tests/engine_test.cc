// Engine-only behaviour: IDs that start above a mark, the marks freed
// namespaces leave, memory given back by idle spaces, and concurrent use of
// one space (meaningful under TSan).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/id_marks.h"
#include "tests/test_support.h"

namespace locktopus {
namespace {

using testing::R;
using testing::W;

TEST(LockSpace, StartsAboveTheLastIdItIsGiven) {
  LockSpace space(41);
  EXPECT_EQ(space.GetStats(), Stats{.last_id = 41});
  EXPECT_EQ(space.Request(std::vector{W({})}).id, 42u);
  EXPECT_EQ(space.Request(std::vector{W({})}).id, 43u);
}

TEST(LockSpace, IdleSpaceGivesMemoryBackAndKeepsItsSequence) {
  LockSpace space;
  const std::size_t idle = space.TEST_ReservedSlots();
  constexpr int kLocks = 100'000;
  for (int i = 0; i < kLocks; ++i) {
    space.Request(std::vector{W({std::to_string(i)})});
  }
  EXPECT_GT(space.TEST_ReservedSlots(), std::size_t(kLocks));
  for (LockId id = 1; id <= kLocks; ++id) space.Release(id);
  EXPECT_LE(space.TEST_ReservedSlots(), idle + 128);
  EXPECT_EQ(space.GetStats(), Stats{.last_id = kLocks});
  EXPECT_EQ(space.Request(std::vector{R({})}).id, LockId(kLocks) + 1);
}

// Two names of the same bucket, and one of another.
struct Names {
  std::string a, b, other;
};
Names CollidingNames() {
  std::map<std::size_t, std::string> seen;
  Names names;
  for (int i = 0;; ++i) {
    const std::string name = "ns" + std::to_string(i);
    const std::size_t bucket = IdMarks::TEST_Bucket(name);
    if (auto it = seen.find(bucket); it != seen.end()) {
      names.a = it->second;
      names.b = name;
      break;
    }
    seen.emplace(bucket, name);
  }
  for (const auto& [bucket, name] : seen) {
    if (bucket != IdMarks::TEST_Bucket(names.a)) {
      names.other = name;
      break;
    }
  }
  return names;
}

TEST(IdMarks, ANameNeverFreedStartsAtZero) {
  IdMarks marks;
  EXPECT_EQ(marks.Floor("a"), 0u);
  marks.Record("a", 0);  // issued nothing: nothing recorded
  EXPECT_EQ(marks.Floor("a"), 0u);
  EXPECT_EQ(marks.used(), 0u);
}

TEST(IdMarks, AFreedNameStartsAboveItsLastIdAndOnlyGoesUp) {
  const Names n = CollidingNames();
  IdMarks marks;
  marks.Record(n.a, 10);
  EXPECT_EQ(marks.Floor(n.a), 10u);
  // Another name of the same bucket has not been freed: it starts at 0.
  EXPECT_EQ(marks.Floor(n.b), 0u);
  EXPECT_EQ(marks.Floor(n.other), 0u);
  marks.Record(n.a, 7);  // never lowered
  EXPECT_EQ(marks.Floor(n.a), 10u);
  marks.Record(n.a, 12);
  EXPECT_EQ(marks.Floor(n.a), 12u);
  EXPECT_EQ(marks.used(), 1u);
}

TEST(IdMarks, ABucketOfTwoNamesKeepsTheLargerMarkForBoth) {
  const Names n = CollidingNames();
  IdMarks marks;
  marks.Record(n.a, 10);
  marks.Record(n.b, 3);
  EXPECT_EQ(marks.Floor(n.a), 10u);
  EXPECT_EQ(marks.Floor(n.b), 10u);
  marks.Record(n.a, 20);
  EXPECT_EQ(marks.Floor(n.b), 20u);
  EXPECT_EQ(marks.Floor(n.other), 0u);
  marks.Record(n.other, 5);
  EXPECT_EQ(marks.Floor(n.other), 5u);
  EXPECT_EQ(marks.Floor(n.a), 20u);
  EXPECT_EQ(marks.used(), 2u);
}

// Whatever is recorded in between, a name's floor never drops below its own
// last ID: 10,000 names freed three times each, in shuffled order.
TEST(IdMarks, NoNameEverGoesBack) {
  IdMarks marks;
  constexpr int kNames = 10'000;
  std::vector<LockId> last(kNames, 0);
  std::mt19937 rng(7);
  for (int round = 0; round < 3; ++round) {
    std::vector<int> order(kNames);
    for (int i = 0; i < kNames; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (int i : order) {
      const std::string name = "n" + std::to_string(i);
      const LockId floor = marks.Floor(name);
      ASSERT_GE(floor, last[i]) << name;
      last[i] = floor + 1 + rng() % 5;
      marks.Record(name, last[i]);
    }
  }
}

// Threads lock and release random overlapping resources on one space. Every
// thread checks that what it holds is not held in a conflicting way by
// another thread, through a shared count per key.
TEST(LockSpaceThreads, ConcurrentStepsKeepMutualExclusion) {
  LockSpace space;
  constexpr int kThreads = 4;
  constexpr int kSteps = 2'000;
  constexpr int kKeys = 3;
  constexpr auto kPatience = std::chrono::seconds(20);
  std::atomic<int> writers[kKeys] = {};
  std::atomic<int> readers[kKeys] = {};
  std::atomic<int> violations = 0;

  auto worker = [&](unsigned seed) {
    std::mt19937 rng(seed);
    for (int step = 0; step < kSteps; ++step) {
      const int key = rng() % kKeys;
      const bool write = rng() % 2 == 0;
      const auto res = write ? W({"k", std::to_string(key)})
                             : R({"k", std::to_string(key)});
      const RequestResult r = space.Request(std::vector{res});
      // Liveness: a lock is acquired once the locks before it go; a broken
      // engine that never grants it fails here instead of hanging.
      const auto deadline = std::chrono::steady_clock::now() + kPatience;
      while (space.State(r.id) != LockState::kAcquired) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline)
            << "lock " << r.id << " never acquired";
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
      auto& mine = write ? writers[key] : readers[key];
      mine.fetch_add(1);
      if (writers[key].load() > (write ? 1 : 0) ||
          (write && readers[key].load() > 0)) {
        violations.fetch_add(1);
      }
      mine.fetch_sub(1);
      ASSERT_TRUE(space.Release(r.id).found);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t + 1);
  for (auto& t : threads) t.join();

  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(space.GetStats(), Stats{.last_id = kThreads * kSteps});
}

}  // namespace
}  // namespace locktopus
