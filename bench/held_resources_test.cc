// The load generator's safety check against the definition: overlap by
// prefix, and random histories where HeldResources must flag exactly the
// acquisitions that a plain scan of every held lock finds in conflict.

#include "bench/held_resources.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace locktopus::bench {
namespace {

TEST(OverlapTest, PrefixesOverlap) {
  EXPECT_TRUE(Overlap(Path{"a", "b"}, Path{"a"}));
  EXPECT_TRUE(Overlap(Path{"a", "b"}, Path{"a", "b", "c"}));
  EXPECT_TRUE(Overlap(Path{"a", "b"}, Path{}));
  EXPECT_TRUE(Overlap(Path{"a", "b"}, Path{"a", "b"}));
  EXPECT_FALSE(Overlap(Path{"a", "b"}, Path{"a", "c"}));
  EXPECT_FALSE(Overlap(Path{"a", "b"}, Path{"ab"}));
}

TEST(ConflictTest, ReadersShare) {
  constexpr Access kRead = Access::kRead;
  constexpr Access kWrite = Access::kWrite;
  EXPECT_FALSE(Conflict(Resource{kRead, {"a"}}, Resource{kRead, {"a", "b"}}));
  EXPECT_TRUE(Conflict(Resource{kWrite, {"a"}}, Resource{kRead, {"a", "b"}}));
  EXPECT_TRUE(Conflict(Resource{kRead, {}}, Resource{kWrite, {"x"}}));
  EXPECT_FALSE(Conflict(Resource{kWrite, {"a"}}, Resource{kWrite, {"b"}}));
}

TEST(HeldResourcesTest, ReleasedResourcesNoLongerConflict) {
  HeldResources held;
  const std::vector<Resource> a = {{Access::kWrite, {"k"}}};
  EXPECT_FALSE(held.Acquire({1, 1}, a));
  EXPECT_TRUE(held.Acquire({2, 2}, a));
  held.Release({1, 1}, a);
  held.Release({2, 2}, a);
  EXPECT_FALSE(held.Acquire({3, 3}, a));
  EXPECT_EQ(held.violations(), 1u);
  EXPECT_EQ(held.first_violation(),
            "client 2 acquired lock 2 with write [k] while client 1 held "
            "lock 1 with write [k]");
}

TEST(HeldResourcesTest, AgreesWithAPlainScan) {
  std::mt19937 rng(7);
  auto pick = [&](int n) {
    return std::uniform_int_distribution<int>(0, n - 1)(rng);
  };
  const std::vector<std::string> segments = {"a", "b", "ab"};
  HeldResources held;
  std::map<int, std::vector<Resource>> holding;  // client -> its lock
  std::uint64_t expected = 0;
  for (int step = 0; step < 20000; ++step) {
    const int client = pick(6);
    if (auto it = holding.find(client); it != holding.end()) {
      held.Release({client, 1}, it->second);
      holding.erase(it);
      continue;
    }
    std::vector<Resource> lock(1 + pick(3));
    for (Resource& r : lock) {
      r.access = pick(2) == 0 ? Access::kWrite : Access::kRead;
      for (int d = pick(4); d > 0; --d) r.path.push_back(segments[pick(3)]);
    }
    bool conflict = false;
    for (const auto& [other, resources] : holding) {
      for (const Resource& mine : lock) {
        for (const Resource& theirs : resources) {
          conflict = conflict || Conflict(mine, theirs);
        }
      }
    }
    expected += conflict ? 1 : 0;
    ASSERT_EQ(held.Acquire({client, 1}, lock), conflict) << "step " << step;
    holding[client] = lock;
  }
  EXPECT_EQ(held.violations(), expected);
  EXPECT_GT(expected, 0u);
}

}  // namespace
}  // namespace locktopus::bench
