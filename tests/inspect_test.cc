// Behaviour tests of Inspect, run against both the engine's LockSpace and
// the reference model: which live locks a query lists, what it says of
// each (state, resources, waiter) and whom an enqueued lock waits for.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "model/model_space.h"
#include "tests/test_support.h"

namespace locktopus {
namespace {

using testing::Lock;
using testing::R;
using testing::Unlock;
using testing::W;
using Ids = std::vector<LockId>;

template <class S>
class InspectTest : public ::testing::Test {
 protected:
  // The query's answer.
  Inspection Ask(Path path, std::size_t limit = 100,
                 std::size_t max_blockers = 10) const {
    return space_.Inspect({.path = std::move(path),
                           .limit = limit,
                           .max_blockers = max_blockers});
  }

  // The IDs the query lists, ascending.
  Ids Listed(Path path, std::size_t limit = 100) const {
    Ids ids;
    for (const LockInfo& info : Ask(std::move(path), limit).locks) {
      ids.push_back(info.id);
    }
    return ids;
  }

  S space_;
};

using Spaces = ::testing::Types<LockSpace, model::ModelSpace>;
TYPED_TEST_SUITE(InspectTest, Spaces);

LockInfo Acquired(LockId id, std::vector<Resource> resources) {
  return {.id = id,
          .state = LockState::kAcquired,
          .resources = std::move(resources)};
}

LockInfo Enqueued(LockId id, std::vector<Resource> resources, Ids waits_for,
                  bool more = false) {
  return {.id = id,
          .state = LockState::kEnqueued,
          .resources = std::move(resources),
          .waits_for = std::move(waits_for),
          .waits_for_more = more};
}

TYPED_TEST(InspectTest, AnEmptySpaceListsNothing) {
  EXPECT_EQ(this->Ask({}), Inspection{});
  EXPECT_EQ(this->Ask({"a"}), Inspection{});
  EXPECT_EQ(this->Ask({}, 0), Inspection{});
}

TYPED_TEST(InspectTest, EnqueuedLocksWaitForEveryEarlierConflictingLock) {
  auto& s = this->space_;
  Lock(s, {W({"a", "b"})});
  Lock(s, {R({"a"})});
  Lock(s, {W({"a", "b", "c"})});
  const Inspection want{
      .live = 3,
      .locks = {Acquired(1, {W({"a", "b"})}), Enqueued(2, {R({"a"})}, {1}),
                Enqueued(3, {W({"a", "b", "c"})}, {1, 2})}};
  EXPECT_EQ(this->Ask({}), want);
}

TYPED_TEST(InspectTest, BlockersAreEarlierConflictingLocksOnly) {
  auto& s = this->space_;
  Lock(s, {R({"a"})});       // 1
  Lock(s, {R({"a", "b"})});  // 2
  Lock(s, {W({"a"})});       // 3: both readers
  Lock(s, {R({"a"})});       // 4: the writer, not the readers
  Lock(s, {W({"a", "c"})});  // 5: 1 and 3 on ["a"], 4; not 2 (sibling)
  Lock(s, {R({"b"})});       // 6: acquired, conflicts with nothing
  Lock(s, {W({})});          // 7: everything before it
  const Inspection got = this->Ask({});
  ASSERT_EQ(got.locks.size(), 7u);
  EXPECT_EQ(got.locks[2], Enqueued(3, {W({"a"})}, {1, 2}));
  EXPECT_EQ(got.locks[3], Enqueued(4, {R({"a"})}, {3}));
  EXPECT_EQ(got.locks[4], Enqueued(5, {W({"a", "c"})}, {1, 3, 4}));
  EXPECT_EQ(got.locks[5], Acquired(6, {R({"b"})}));
  EXPECT_EQ(got.locks[6], Enqueued(7, {W({})}, {1, 2, 3, 4, 5, 6}));

  // Releasing the readers leaves the writer acquired, with no blockers.
  Unlock(s, 1);
  Unlock(s, 2);
  EXPECT_EQ(this->Ask({"a"}).locks.front(), Acquired(3, {W({"a"})}));
}

TYPED_TEST(InspectTest, PathListsAncestorsEqualAndDescendantsNotSiblings) {
  auto& s = this->space_;
  Lock(s, {W({"a", "b"})});            // 1
  Lock(s, {R({"a"})});                 // 2
  Lock(s, {R({"a", "b", "c"})});       // 3
  Lock(s, {W({"a", "c"})});            // 4
  Lock(s, {R({"ab"})});                // 5
  Lock(s, {R({"b", "a"})});            // 6
  Lock(s, {R({"x"}), R({"a", "b"})});  // 7: its second resource
  EXPECT_EQ(this->Listed({"a", "b"}), (Ids{1, 2, 3, 7}));
  EXPECT_EQ(this->Listed({"a"}), (Ids{1, 2, 3, 4, 7}));
  EXPECT_EQ(this->Listed({"a", "c"}), (Ids{2, 4}));
  EXPECT_EQ(this->Listed({"a", "b", "c"}), (Ids{1, 2, 3, 7}));
  EXPECT_EQ(this->Listed({"b"}), (Ids{6}));
  EXPECT_EQ(this->Listed({"ab"}), (Ids{5}));
  EXPECT_EQ(this->Listed({}), (Ids{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(this->Ask({"a", "b"}).live, 7u);
}

TYPED_TEST(InspectTest, PathWithoutLocksBelowItListsItsAncestorsOnly) {
  auto& s = this->space_;
  Lock(s, {W({"a", "b"})});       // 1
  Lock(s, {R({"a"})});            // 2
  Lock(s, {R({"a", "b", "c"})});  // 3
  Lock(s, {R({"q"})});            // 4
  // No lock names ["a","b","d"] or anything below it.
  EXPECT_EQ(this->Listed({"a", "b", "d"}), (Ids{1, 2}));
  EXPECT_EQ(this->Listed({"a", "b", "c", "d", "e"}), (Ids{1, 2, 3}));
  EXPECT_EQ(this->Listed({"z"}), Ids{});
  EXPECT_EQ(this->Listed({"z", "a", "b"}), Ids{});
}

TYPED_TEST(InspectTest, TheRootOverlapsEveryPath) {
  auto& s = this->space_;
  Lock(s, {R({"a"})});  // 1
  Lock(s, {R({})});     // 2
  Lock(s, {W({"b"})});  // 3
  EXPECT_EQ(this->Listed({"a"}), (Ids{1, 2}));
  EXPECT_EQ(this->Listed({"z", "y"}), (Ids{2}));
  EXPECT_EQ(this->Listed({}), (Ids{1, 2, 3}));
}

TYPED_TEST(InspectTest, ALockOfNoResourcesIsListedOnlyWithoutAPath) {
  auto& s = this->space_;
  Lock(s, {W({})});  // 1
  Lock(s, {});       // 2
  EXPECT_EQ(this->Listed({}), (Ids{1, 2}));
  EXPECT_EQ(this->Listed({"a"}), (Ids{1}));
  EXPECT_EQ(this->Ask({}).locks[1], Acquired(2, {}));
}

TYPED_TEST(InspectTest, LimitListsTheSmallestIdsAndSaysWhenThereAreMore) {
  auto& s = this->space_;
  for (int i = 0; i < 5; ++i) Lock(s, {R({"a", std::to_string(i)})});
  Lock(s, {R({"b"})});  // 6
  Lock(s, {R({"a"})});  // 7
  EXPECT_EQ(this->Listed({}, 3), (Ids{1, 2, 3}));
  EXPECT_TRUE(this->Ask({}, 3).more);
  EXPECT_FALSE(this->Ask({}, 7).more);
  EXPECT_TRUE(this->Ask({}, 6).more);
  EXPECT_EQ(this->Listed({"a"}, 5), (Ids{1, 2, 3, 4, 5}));
  EXPECT_TRUE(this->Ask({"a"}, 5).more);  // 7
  EXPECT_FALSE(this->Ask({"a"}, 6).more);
  EXPECT_EQ(this->Listed({"a", "3"}, 1), (Ids{4}));
  EXPECT_TRUE(this->Ask({"a", "3"}, 1).more);  // 7
  EXPECT_FALSE(this->Ask({"b"}, 1).more);
  EXPECT_EQ(this->Ask({"a"}, 2).live, 7u);
}

TYPED_TEST(InspectTest, LimitZeroListsNothingButSaysWhetherAnyMatch) {
  auto& s = this->space_;
  Lock(s, {W({"a"})});
  Lock(s, {W({"a"})});
  EXPECT_EQ(this->Ask({}, 0), (Inspection{.live = 2, .more = true}));
  EXPECT_EQ(this->Ask({"a", "b"}, 0), (Inspection{.live = 2, .more = true}));
  EXPECT_EQ(this->Ask({"b"}, 0), (Inspection{.live = 2, .more = false}));
}

TYPED_TEST(InspectTest, MaxBlockersListsTheSmallestIdsAndSaysWhenThereAreMore) {
  auto& s = this->space_;
  for (int i = 0; i < 4; ++i) Lock(s, {R({"a"})});
  Lock(s, {W({"a"})});  // 5
  const std::vector<Resource> writer = {W({"a"})};
  EXPECT_EQ(this->Ask({}, 100, 10).locks[4], Enqueued(5, writer, {1, 2, 3, 4}));
  EXPECT_EQ(this->Ask({}, 100, 4).locks[4], Enqueued(5, writer, {1, 2, 3, 4}));
  EXPECT_EQ(this->Ask({}, 100, 3).locks[4],
            Enqueued(5, writer, {1, 2, 3}, true));
  EXPECT_EQ(this->Ask({}, 100, 1).locks[4], Enqueued(5, writer, {1}, true));
  EXPECT_EQ(this->Ask({}, 100, 0).locks[4], Enqueued(5, writer, {}, true));
  // An acquired lock waits for nothing, whatever the limit.
  EXPECT_EQ(this->Ask({}, 100, 0).locks[0], Acquired(1, {R({"a"})}));
}

TYPED_TEST(InspectTest, ResourcesComeBackAsRequestedDuplicatesIncluded) {
  auto& s = this->space_;
  const std::vector<Resource> first = {W({"a"}), W({"a"}), R({"a"}),
                                       W({"a", "b"}), R({})};
  const std::vector<Resource> second = {R({"a", "b"}), R({"a", "b"}),
                                        W({"a", "b"})};
  const std::vector<Resource> odd = {W({""}), R({"", ""}), W({"a/b"}),
                                     R({std::string("x\0y", 3), "z"})};
  Lock(s, first);
  Lock(s, second);
  Lock(s, odd);
  const Inspection want{.live = 3,
                        .locks = {Acquired(1, first), Enqueued(2, second, {1}),
                                  Enqueued(3, odd, {1})}};
  EXPECT_EQ(this->Ask({}), want);
  // Listed once, however many of its resources match.
  EXPECT_EQ(this->Ask({"a"}),
            (Inspection{.live = 3, .locks = {want.locks[0], want.locks[1]}}));
  EXPECT_EQ(this->Listed({"a", "b", "c"}), (Ids{1, 2}));
  EXPECT_EQ(this->Listed({""}), (Ids{1, 3}));
  EXPECT_EQ(this->Listed({std::string("x\0y", 3)}), (Ids{1, 3}));
}

class NeverCalled : public Waiter {
 public:
  void Notify(LockId) override { ADD_FAILURE() << "the space called out"; }
};

TYPED_TEST(InspectTest, EveryLockComesWithTheWaiterItsRequestNamed) {
  auto& s = this->space_;
  auto first = std::make_shared<NeverCalled>();
  auto second = std::make_shared<NeverCalled>();
  EXPECT_TRUE(s.Request(std::vector{W({"a"})}, first).acquired);
  EXPECT_FALSE(s.Request(std::vector{W({"a"})}, second).acquired);
  s.Request(std::vector{W({"b"})}, {});
  Inspection got = this->Ask({});
  ASSERT_EQ(got.locks.size(), 3u);
  LockInfo want = Acquired(1, {W({"a"})});
  want.waiter = first;
  EXPECT_EQ(got.locks[0], want);
  want = Enqueued(2, {W({"a"})}, {1});
  want.waiter = second;
  EXPECT_EQ(got.locks[1], want);
  EXPECT_EQ(got.locks[2], Acquired(3, {W({"b"})}));
  // A different waiter is a different answer.
  want.waiter = first;
  EXPECT_NE(got.locks[1], want);

  // Acquired by a release, the lock keeps its waiter for the rest of its
  // life.
  EXPECT_EQ(s.Release(1).acquired, (std::vector<Acquisition>{{2, second}}));
  got = this->Ask({"a"});
  ASSERT_EQ(got.locks.size(), 1u);
  want = Acquired(2, {W({"a"})});
  want.waiter = second;
  EXPECT_EQ(got.locks[0], want);
}

TYPED_TEST(InspectTest, ReleasedAndCancelledLocksAreGone) {
  auto& s = this->space_;
  Lock(s, {W({"a"})});             // 1
  Lock(s, {W({"a"})});             // 2
  Lock(s, {R({"a", "b"})});        // 3
  Lock(s, {W({"c"})});             // 4
  EXPECT_EQ(Unlock(s, 2), Ids{});  // cancelled
  EXPECT_EQ(this->Ask({}),
            (Inspection{.live = 3,
                        .locks = {Acquired(1, {W({"a"})}),
                                  Enqueued(3, {R({"a", "b"})}, {1}),
                                  Acquired(4, {W({"c"})})}}));
  EXPECT_EQ(Unlock(s, 4), Ids{});
  EXPECT_EQ(Unlock(s, 1), Ids{3});
  EXPECT_EQ(this->Ask({}),
            (Inspection{.live = 1, .locks = {Acquired(3, {R({"a", "b"})})}}));
  EXPECT_EQ(Unlock(s, 3), Ids{});
  EXPECT_EQ(this->Ask({}), Inspection{});
  Lock(s, {R({"a"})});
  EXPECT_EQ(this->Listed({}), Ids{5});
}

// The oldest enqueued lock is the smallest enqueued ID; the oldest acquired
// one is the first acquired, not the smallest acquired ID.
TYPED_TEST(InspectTest, OldestLocksFollowRequestAndAcquisitionOrder) {
  auto& s = this->space_;
  const auto ids = [&s] {
    const OldestLocks oldest = s.Oldest();
    return std::pair<LockId, LockId>{oldest.enqueued ? oldest.enqueued->id : 0,
                                     oldest.acquired ? oldest.acquired->id : 0};
  };
  using P = std::pair<LockId, LockId>;
  EXPECT_EQ(ids(), P(0, 0));
  Lock(s, {W({"a"})});  // 1, acquired
  Lock(s, {W({"a"})});  // 2, waits for 1
  Lock(s, {W({"b"})});  // 3, acquired
  Lock(s, {W({"b"})});  // 4, waits for 3
  EXPECT_EQ(ids(), P(2, 1));
  EXPECT_EQ(Unlock(s, 3), Ids{4});  // 4 acquired now: after 1, before 2
  EXPECT_EQ(ids(), P(2, 1));
  EXPECT_EQ(Unlock(s, 1), Ids{2});
  EXPECT_EQ(ids(), P(0, 4));      // 4 was acquired before 2
  Lock(s, {W({"b"}), W({"a"})});  // 5, waits for 2 and 4
  Lock(s, {R({"c"})});            // 6, acquired
  EXPECT_EQ(ids(), P(5, 4));
  EXPECT_EQ(Unlock(s, 4), Ids{});
  EXPECT_EQ(ids(), P(5, 2));
  EXPECT_EQ(Unlock(s, 5), Ids{});  // cancelled
  EXPECT_EQ(ids(), P(0, 2));
  EXPECT_EQ(Unlock(s, 2), Ids{});
  EXPECT_EQ(ids(), P(0, 6));
  // 7 is acquired after 9: 9 is the oldest, though 7 has the smaller ID.
  Lock(s, {W({"c"})});  // 7, waits for 6
  Lock(s, {W({"d"})});  // 8, acquired
  Lock(s, {R({"d"})});  // 9, waits for 8
  EXPECT_EQ(Unlock(s, 8), Ids{9});
  EXPECT_EQ(Unlock(s, 6), Ids{7});
  EXPECT_EQ(ids(), P(0, 9));
}

}  // namespace
}  // namespace locktopus
