// The engine's complexity bounds (engine.h), asserted by counting elementary
// steps with LockSpace::TEST_Work(), never by measuring time.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "tests/test_support.h"

namespace locktopus {
namespace {

using testing::R;
using testing::W;

// Work done by one step.
template <class Step>
std::uint64_t WorkOf(LockSpace& space, Step step) {
  const std::uint64_t before = space.TEST_Work();
  step();
  return space.TEST_Work() - before;
}

struct Cycle {
  std::uint64_t request = 0;
  std::uint64_t release = 0;
};

// One request of `resources` and its release, each step's work counted.
Cycle MeasureCycle(LockSpace& space, const std::vector<Resource>& resources) {
  Cycle cycle;
  LockId id = 0;
  cycle.request = WorkOf(space, [&] {
    RequestResult result = space.Request(resources);
    EXPECT_TRUE(result.acquired);
    id = result.id;
  });
  cycle.release = WorkOf(space, [&] { EXPECT_TRUE(space.Release(id).found); });
  return cycle;
}

// Live locks elsewhere in the tree, half of them enqueued, none overlapping
// ["x", ...].
void FillUnrelated(LockSpace& space, int count) {
  for (int i = 0; i < count; ++i) {
    const std::string key = std::to_string(i / 2);
    space.Request(std::vector{i % 4 == 1 ? R({"u", key, "v"}) : W({"u", key})});
  }
}

TEST(Complexity, RequestCostIsIndependentOfUnrelatedLiveLocks) {
  const std::vector<Resource> lock = {W({"x", "y", "z"}), R({"x", "w"})};
  LockSpace empty;
  const Cycle alone = MeasureCycle(empty, lock);

  LockSpace busy;
  FillUnrelated(busy, 100'000);
  ASSERT_EQ(busy.GetStats().locks_pending, 50'000u);
  const Cycle crowded = MeasureCycle(busy, lock);

  EXPECT_EQ(crowded.request, alone.request);
  // Among other locks' entries ours are not list heads, so a release wakes
  // no list at all: never more than alone.
  EXPECT_LE(crowded.release, alone.release);
}

TEST(Complexity, StepCostIsLinearInTotalPathLength) {
  // A resource of depth d puts d + 1 entries on d + 1 nodes. A request
  // touches each node and appends each entry; a release removes each entry
  // and, for a list head, looks at most at the four lists it blocked.
  auto check = [](const std::vector<Resource>& lock) {
    std::uint64_t entries = 0;
    for (const Resource& r : lock) entries += r.path.size() + 1;
    LockSpace space;
    const Cycle cycle = MeasureCycle(space, lock);
    EXPECT_LE(cycle.request, 2 * entries);
    EXPECT_LE(cycle.release, 5 * entries);
  };
  check({W({"a", "b", "c"})});
  check({W({"a", "b", "c"}), R({"a", "b", "d"}), R({}), W({"e"})});
  check(std::vector<Resource>(16, W(Path(64, "s"))));
  check(std::vector<Resource>(1024, R({"x", "y"})));
}

TEST(Complexity, FreshPathsCostTheSameEveryCycle) {
  // BM_UncontendedLockRelease's shape: every cycle creates and frees its
  // nodes, and leaves nothing behind that a later cycle pays for.
  LockSpace space;
  const Cycle first = MeasureCycle(space, {W({"p0", "q", "r"})});
  for (int i = 1; i < 10'000; ++i) {
    const Cycle c = MeasureCycle(space, {W({"p" + std::to_string(i), "q", "r"})});
    ASSERT_EQ(c.request, first.request) << i;
    ASSERT_EQ(c.release, first.release) << i;
  }
  EXPECT_EQ(space.GetStats().path_count, 0u);
}

// Max work of a reader joining and of each release, one by one, of N
// readers of one path.
struct HotReaders {
  std::uint64_t max_request = 0;
  std::uint64_t max_release = 0;
  std::uint64_t total_release = 0;
};

HotReaders MeasureHotReaders(int n, bool newest_first) {
  LockSpace space;
  HotReaders m;
  for (int i = 0; i < n; ++i) {
    m.max_request = std::max(m.max_request, WorkOf(space, [&] {
      EXPECT_TRUE(space.Request(std::vector{R({"config"})}).acquired);
    }));
  }
  for (int i = 0; i < n; ++i) {
    const LockId id = newest_first ? n - i : i + 1;
    const std::uint64_t w =
        WorkOf(space, [&] { EXPECT_TRUE(space.Release(id).found); });
    m.max_release = std::max(m.max_release, w);
    m.total_release += w;
  }
  return m;
}

TEST(Complexity, CompatibleHoldersOfOnePathDoNotSlowEachOther) {
  for (bool newest_first : {false, true}) {
    const HotReaders few = MeasureHotReaders(10, newest_first);
    const HotReaders many = MeasureHotReaders(10'000, newest_first);
    EXPECT_EQ(many.max_request, few.max_request);
    EXPECT_EQ(many.max_release, few.max_release);
    EXPECT_LE(many.total_release, 10'000 * few.max_release);
  }
}

TEST(Complexity, ReleasingWriterBeforeQueuedReadersIsLinear) {
  for (int n : {1'000, 10'000}) {
    LockSpace space;
    const LockId writer = space.Request(std::vector{W({"config"})}).id;
    for (int i = 0; i < n; ++i) {
      space.Request(std::vector{R({"config"})});
    }
    std::uint64_t work = WorkOf(space, [&] {
      EXPECT_EQ(space.Release(writer).acquired.size(), std::size_t(n));
    });
    // Each reader's one waiting entry is passed once, plus a constant.
    EXPECT_LE(work, std::uint64_t(n) + 32) << n << " readers";
  }
}

// Max work of releasing each of N writers queued on one path, in order.
std::uint64_t MaxDrainStep(int n) {
  LockSpace space;
  for (int i = 0; i < n; ++i) space.Request(std::vector{W({"q", "u", "e"})});
  std::uint64_t max = 0;
  for (LockId id = 1; id <= LockId(n); ++id) {
    max = std::max(max, WorkOf(space, [&] {
      ReleaseResult r = space.Release(id);
      EXPECT_EQ(r.acquired.size(), id < LockId(n) ? 1u : 0u);
    }));
  }
  return max;
}

TEST(Complexity, QueueDrainCostsTheSamePerLockAtAnyLength) {
  EXPECT_EQ(MaxDrainStep(4096), MaxDrainStep(256));
}

}  // namespace
}  // namespace locktopus
