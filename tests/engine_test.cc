// Engine-only behaviour: IDs that start above a mark, the marks freed
// namespaces leave, memory given back by idle spaces, and concurrent use of
// one space (meaningful under TSan).

#include "engine/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

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

TEST(MemoryBudget, ALockTheBudgetCannotCoverIsRefusedChangingNothing) {
  // 1,200 new nodes of 100-byte segments: what it costs, without a budget.
  std::vector<Resource> big;
  for (int i = 0; i < 1200; ++i) {
    big.push_back(W({std::string(100, 'a') + std::to_string(i)}));
  }
  std::uint64_t cost = 0;
  {
    LockSpace scratch;
    scratch.Request(big);
    cost = scratch.MemoryBytes();
  }
  // A budget of four times that; locks of 50 paths in `a` take three.
  MemoryBudget budget(4 * cost);
  LockSpace a(0, &budget), b(0, &budget);
  std::vector<LockId> held;
  while (a.MemoryBytes() < 3 * cost) {
    std::vector<Resource> lock;
    for (int p = 0; p < 50; ++p) {
      lock.push_back(W({std::to_string(held.size()), std::to_string(p)}));
    }
    const std::optional<RequestResult> r = a.TryRequest(lock);
    ASSERT_NE(r, std::nullopt);
    EXPECT_EQ(r->id, held.size() + 1);
    held.push_back(r->id);
  }
  EXPECT_EQ(budget.used(), a.MemoryBytes());

  // The big lock does not fit in what is left.
  const Stats before = b.GetStats();
  EXPECT_EQ(b.TryRequest(big), std::nullopt);
  EXPECT_EQ(b.GetStats(), before);
  EXPECT_EQ(b.MemoryBytes(), 0u);
  EXPECT_EQ(budget.used(), a.MemoryBytes());
  // No ID and no step were used: the next lock is 1, step 1.
  EXPECT_EQ(*b.TryRequest(std::vector{R({"x"})}),
            (RequestResult{.step = 1, .id = 1, .acquired = true}));

  // Releases give back all they held; the budget then covers the big lock.
  for (LockId id : held) EXPECT_TRUE(a.Release(id).found);
  EXPECT_TRUE(b.Release(1).found);
  EXPECT_EQ(budget.used(), 0u);
  ASSERT_NE(b.TryRequest(big), std::nullopt);
  EXPECT_EQ(budget.used(), b.MemoryBytes());
  EXPECT_EQ(b.MemoryBytes(), cost);
}

TEST(MemoryBudget, AnEighthIsKeptForSmallLocks) {
  MemoryBudget budget(8 << 20);
  LockSpace floods(0, &budget), ordinary(0, &budget);
  // Large locks, of 1,000 new paths each, until one is refused: they stop
  // an eighth short of the limit.
  for (int i = 0;; ++i) {
    std::vector<Resource> lock;
    for (int p = 0; p < 1000; ++p) {
      lock.push_back(W({std::to_string(i) + "/" + std::to_string(p)}));
    }
    if (!floods.TryRequest(lock)) break;
  }
  EXPECT_GT(budget.used(), budget.limit() / 8 * 6);
  EXPECT_LE(budget.used(), budget.limit() / 8 * 7);
  // The eighth left takes thousands of small locks.
  for (int i = 0; i < 3000; ++i) {
    ASSERT_NE(ordinary.TryRequest(
                  std::vector{W({"small", std::to_string(i)}), R({"config"})}),
              std::nullopt)
        << i;
  }
}

TEST(MemoryBudget, RequestChargesWhateverTheLimitAndADestroyedSpaceGivesBack) {
  MemoryBudget budget(1);
  {
    LockSpace space(0, &budget);
    EXPECT_TRUE(space.Request(std::vector{W({"a", "b", "c"})}).acquired);
    EXPECT_EQ(budget.used(), space.MemoryBytes());
    EXPECT_GT(budget.used(), budget.limit());
    EXPECT_EQ(space.TryRequest(std::vector{R({})}), std::nullopt);
  }
  EXPECT_EQ(budget.used(), 0u);
}

TEST(MemoryBudget, ChargesAreTheSumOfTheSpacesAcrossThreads) {
  MemoryBudget budget(std::uint64_t{1} << 30);
  constexpr int kThreads = 4;
  std::vector<std::unique_ptr<LockSpace>> spaces;
  for (int t = 0; t < kThreads; ++t) {
    spaces.push_back(std::make_unique<LockSpace>(0, &budget));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&space = *spaces[t], t] {
      std::mt19937 rng(t);
      std::vector<LockId> live;
      for (int step = 0; step < 5'000; ++step) {
        if (live.size() < 50 && rng() % 3 != 0) {
          const Resource r = W({std::to_string(rng() % 100), "x"});
          live.push_back(space.TryRequest(std::vector{r})->id);
        } else if (!live.empty()) {
          space.Release(live.back());
          live.pop_back();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::uint64_t sum = 0;
  for (const auto& space : spaces) sum += space->MemoryBytes();
  EXPECT_EQ(budget.used(), sum);
}

// Names of one set: `count` of them.
std::vector<std::string> NamesOfOneSet(std::size_t count) {
  std::map<std::size_t, std::vector<std::string>> by_set;
  for (int i = 0;; ++i) {
    std::string name = "ns" + std::to_string(i);
    auto& names = by_set[IdMarks::TEST_Set(name)];
    names.push_back(std::move(name));
    if (names.size() == count) return names;
  }
}

TEST(IdMarks, ANameNeverFreedStartsAtZero) {
  IdMarks marks;
  EXPECT_EQ(marks.Floor("a"), 0u);
  marks.Record("a", 0);  // issued nothing: nothing recorded
  EXPECT_EQ(marks.Floor("a"), 0u);
}

TEST(IdMarks, AFreedNameStartsAboveItsLastIdAndOnlyGoesUp) {
  const std::vector<std::string> n = NamesOfOneSet(2);
  IdMarks marks;
  marks.Record(n[0], 10);
  EXPECT_EQ(marks.Floor(n[0]), 10u);
  // Another name of the same set has not been freed: it starts at 0.
  EXPECT_EQ(marks.Floor(n[1]), 0u);
  marks.Record(n[0], 7);  // never lowered
  EXPECT_EQ(marks.Floor(n[0]), 10u);
  marks.Record(n[0], 12);
  EXPECT_EQ(marks.Floor(n[0]), 12u);
  marks.Record(n[1], 3);
  EXPECT_EQ(marks.Floor(n[1]), 3u);
  EXPECT_EQ(marks.Floor(n[0]), 12u);
}

// A set holds kWays names; the names that find it full share its overflow
// mark, and so does every name never freed into it from then on.
TEST(IdMarks, AFullSetKeepsTheLargestMarkOfTheNamesItCouldNotHold) {
  const std::vector<std::string> n = NamesOfOneSet(IdMarks::kWays + 3);
  IdMarks marks;
  for (std::size_t i = 0; i < IdMarks::kWays; ++i) marks.Record(n[i], 100 + i);
  EXPECT_EQ(marks.overflowed(), 0u);
  const std::string& late = n[IdMarks::kWays];
  const std::string& later = n[IdMarks::kWays + 1];
  const std::string& never = n[IdMarks::kWays + 2];
  EXPECT_EQ(marks.Floor(never), 0u);
  marks.Record(late, 5);
  marks.Record(later, 50);
  EXPECT_EQ(marks.overflowed(), 1u);
  EXPECT_EQ(marks.Floor(late), 50u);
  EXPECT_EQ(marks.Floor(later), 50u);
  EXPECT_EQ(marks.Floor(never), 50u);
  // The names with an entry keep their own marks.
  for (std::size_t i = 0; i < IdMarks::kWays; ++i) {
    EXPECT_EQ(marks.Floor(n[i]), 100 + i);
  }
  marks.Record(n[0], 500);
  EXPECT_EQ(marks.Floor(n[0]), 500u);
  EXPECT_EQ(marks.Floor(never), 50u);
}

// Whatever is recorded in between, a name's floor never drops below its own
// last ID: 100,000 names (so that many sets overflow) freed three times
// each, in shuffled order.
TEST(IdMarks, NoNameEverGoesBack) {
  IdMarks marks;
  constexpr int kNames = 100'000;
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
  EXPECT_GT(marks.overflowed(), 0u);
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
      const auto res =
          write ? W({"k", std::to_string(key)}) : R({"k", std::to_string(key)});
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
