// The engine's complexity bounds (engine.h), asserted by counting elementary
// steps with LockSpace::TEST_Work(), never by measuring time.

#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
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
    const Cycle c =
        MeasureCycle(space, {W({"p" + std::to_string(i), "q", "r"})});
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
    m.max_request = std::max(
        m.max_request, WorkOf(space, [&] {
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

// Work of one Inspect, its answer in `answer`.
std::uint64_t InspectWork(LockSpace& space, const InspectQuery& query,
                          Inspection& answer) {
  return WorkOf(space, [&] { answer = space.Inspect(query); });
}

// The work a query may take: a constant per lock listed (its resources
// read back, of one or two segments here: about 6), per blocker and per
// segment of the query's path.
std::uint64_t InspectBound(const InspectQuery& query) {
  return 8 * (query.limit + 1 + query.max_blockers + 1 + query.path.size());
}

// `n` readers of ["a"] hold it; then one lock waits for all of them, a write
// of ["a"] and of ["w"]; then a reader of ["a"] waits for that writer.
void FillHotReaders(LockSpace& space, int n) {
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(space.Request(std::vector{R({"a"})}).acquired);
  }
  EXPECT_FALSE(space.Request(std::vector{W({"a"}), W({"w"})}).acquired);
  EXPECT_FALSE(space.Request(std::vector{R({"a"})}).acquired);
}

// `n` readers of distinct paths ["r", i]; then a writer of ["x", "y"].
void FillDistinctReaders(LockSpace& space, int n) {
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(
        space.Request(std::vector{R({"r", std::to_string(i)})}).acquired);
  }
  EXPECT_TRUE(space.Request(std::vector{W({"x", "y"})}).acquired);
}

TEST(Complexity, InspectCostIsIndependentOfTheLocksItDoesNotList) {
  constexpr int kFew = 1'000;
  constexpr int kMany = 100'000;
  struct Case {
    void (*fill)(LockSpace&, int);
    InspectQuery query;
    std::size_t listed;
    bool more;
  };
  const Case cases[] = {
      // Every lock: the first 100 readers.
      {FillHotReaders,
       {.path = {}, .limit = 100, .max_blockers = 10},
       100,
       true},
      // The readers' own node, and below it: the same.
      {FillHotReaders,
       {.path = {"a"}, .limit = 100, .max_blockers = 10},
       100,
       true},
      {FillHotReaders,
       {.path = {"a", "b", "c"}, .limit = 100, .max_blockers = 10},
       100,
       true},
      // The waiting writer alone, its blockers cut at 10 of the readers.
      {FillHotReaders,
       {.path = {"w"}, .limit = 100, .max_blockers = 10},
       1,
       false},
      {FillHotReaders,
       {.path = {"w"}, .limit = 0, .max_blockers = 10},
       0,
       true},
      {FillHotReaders,
       {.path = {"x", "y"}, .limit = 100, .max_blockers = 10},
       0,
       false},
      {FillDistinctReaders,
       {.path = {}, .limit = 100, .max_blockers = 10},
       100,
       true},
      // Their parent: 100 of its many children's locks.
      {FillDistinctReaders,
       {.path = {"r"}, .limit = 100, .max_blockers = 10},
       100,
       true},
      {FillDistinctReaders,
       {.path = {"r", "5"}, .limit = 100, .max_blockers = 10},
       1,
       false},
      // A path beside them: the one lock there.
      {FillDistinctReaders,
       {.path = {"x", "y", "z"}, .limit = 100, .max_blockers = 10},
       1,
       false},
      {FillDistinctReaders,
       {.path = {"s"}, .limit = 100, .max_blockers = 10},
       0,
       false},
  };
  for (const Case& c : cases) {
    std::ostringstream what;
    what << c.query;
    LockSpace few, many;
    c.fill(few, kFew);
    c.fill(many, kMany);
    Inspection answer;
    const std::uint64_t small = InspectWork(few, c.query, answer);
    const std::uint64_t large = InspectWork(many, c.query, answer);
    EXPECT_EQ(large, small) << what.str();
    EXPECT_LE(large, InspectBound(c.query)) << what.str();
    EXPECT_EQ(answer.live,
              many.GetStats().locks_pending + many.GetStats().locks_acquired)
        << what.str();
    EXPECT_EQ(answer.locks.size(), c.listed) << what.str();
    EXPECT_EQ(answer.more, c.more) << what.str();
  }
}

TEST(Complexity, InspectStopsAWritersBlockersAtTheLimit) {
  // 100,000 readers hold ["a"]; the writer waits for every one of them.
  LockSpace space;
  FillHotReaders(space, 100'000);
  for (std::size_t max_blockers : {0, 1, 10, 100}) {
    const InspectQuery query{
        .path = {"w"}, .limit = 100, .max_blockers = max_blockers};
    Inspection answer;
    const std::uint64_t work = InspectWork(space, query, answer);
    ASSERT_EQ(answer.locks.size(), 1u);
    const LockInfo& writer = answer.locks[0];
    EXPECT_EQ(writer.id, 100'001u);
    EXPECT_EQ(writer.waits_for.size(), max_blockers);
    if (max_blockers > 0) EXPECT_EQ(writer.waits_for.back(), max_blockers);
    EXPECT_TRUE(writer.waits_for_more);
    EXPECT_LE(work, InspectBound(query)) << max_blockers << " blockers";
  }
  // The reader behind the writer waits for the writer only, not for the
  // 100,000 readers before it.
  const InspectQuery query{.path = {"a", "b"}, .limit = 100'003};
  Inspection answer;
  InspectWork(space, query, answer);
  ASSERT_EQ(answer.locks.size(), 100'002u);
  EXPECT_EQ(answer.locks.back().waits_for, std::vector<LockId>{100'001});
  EXPECT_FALSE(answer.locks.back().waits_for_more);
}

}  // namespace
}  // namespace locktopus
