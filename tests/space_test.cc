// Behaviour tests of the step interface, run against both the engine's
// LockSpace and the reference model: each scenario of docs/semantics.md once.

#include <gtest/gtest.h>

#include <memory>
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

constexpr testing::Answer Acquired(LockId id) { return {id, true}; }
constexpr testing::Answer Enqueued(LockId id) { return {id, false}; }

template <class S>
class SpaceTest : public ::testing::Test {
 protected:
  S space_;
};

using Spaces = ::testing::Types<LockSpace, model::ModelSpace>;
TYPED_TEST_SUITE(SpaceTest, Spaces);

TYPED_TEST(SpaceTest, SingleLockIsAcquiredAtOnce) {
  EXPECT_EQ(Lock(this->space_, {W({"a", "b", "c"})}), Acquired(1));
  EXPECT_EQ(this->space_.State(1), LockState::kAcquired);
  EXPECT_EQ(Unlock(this->space_, 1), Ids{});
  EXPECT_EQ(this->space_.State(1), LockState::kNone);
}

TYPED_TEST(SpaceTest, DuplicateAndRedundantResourcesDoNotDeadlock) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {W({"a"}), W({"a"}), R({"a"}), W({"a", "b"}), R({})}),
            Acquired(1));
  EXPECT_EQ(Lock(s, {R({"a", "b"}), R({"a", "b"}), W({"a", "b"})}),
            Enqueued(2));
  EXPECT_EQ(Unlock(s, 1), Ids{2});
  EXPECT_EQ(Lock(s, {R({"a"}), R({"a"})}), Enqueued(3));
  EXPECT_EQ(Unlock(s, 2), Ids{3});
}

TYPED_TEST(SpaceTest, EmptyPathBlocksEverything) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {W({})}), Acquired(1));
  EXPECT_EQ(Lock(s, {R({"x", "y", "z"})}), Enqueued(2));
  EXPECT_EQ(Lock(s, {R({})}), Enqueued(3));
  EXPECT_EQ(Unlock(s, 1), (Ids{2, 3}));
}

TYPED_TEST(SpaceTest, EmptyPathIsBlockedByEverything) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {W({"x", "y", "z"})}), Acquired(1));
  EXPECT_EQ(Lock(s, {R({})}), Enqueued(2));
  EXPECT_EQ(Lock(s, {R({"q"})}), Acquired(3));
  EXPECT_EQ(Unlock(s, 1), Ids{2});
}

TYPED_TEST(SpaceTest, ReadOfEmptyPathSharesWithReaders) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {R({})}), Acquired(1));
  EXPECT_EQ(Lock(s, {R({"a"})}), Acquired(2));
  EXPECT_EQ(Lock(s, {W({"a"})}), Enqueued(3));
}

TYPED_TEST(SpaceTest, WriteBlocksPrefixesAndExtensionsButNotSiblings) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {W({"a", "b"})}), Acquired(1));
  EXPECT_EQ(Lock(s, {W({"a", "c"})}), Acquired(2));  // sibling
  EXPECT_EQ(Lock(s, {W({"ab"})}), Acquired(3));      // same letters
  EXPECT_EQ(Lock(s, {W({"b", "a"})}), Acquired(4));
  EXPECT_EQ(Lock(s, {R({"a"})}), Enqueued(5));            // prefix
  EXPECT_EQ(Lock(s, {R({"a", "b", "c"})}), Enqueued(6));  // extension
  EXPECT_EQ(Unlock(s, 1), Ids{6});  // 5 still waits for 2 on ["a","c"]
  EXPECT_EQ(Unlock(s, 2), Ids{5});
}

TYPED_TEST(SpaceTest, LaterLockWaitsForEarlierEnqueuedOne) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {W({"a", "b"})}), Acquired(1));
  EXPECT_EQ(Lock(s, {R({"a"})}), Enqueued(2));
  EXPECT_EQ(Lock(s, {W({"a", "c"})}), Enqueued(3));  // behind 2, not 1
  EXPECT_EQ(Unlock(s, 1), Ids{2});
  EXPECT_EQ(Unlock(s, 2), Ids{3});
}

TYPED_TEST(SpaceTest, ReadersShare) {
  auto& s = this->space_;
  for (LockId id = 1; id <= 5; ++id) {
    EXPECT_EQ(Lock(s, {R({"config"})}), Acquired(id));
  }
  EXPECT_EQ(Lock(s, {W({"config"})}), Enqueued(6));
  for (LockId id = 1; id <= 4; ++id) EXPECT_EQ(Unlock(s, id), Ids{});
  EXPECT_EQ(Unlock(s, 5), Ids{6});
}

TYPED_TEST(SpaceTest, ReadsAlongOneBranchDoNotBlockEachOther) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {R({"a"})}), Acquired(1));
  EXPECT_EQ(Lock(s, {R({"a", "b"})}), Acquired(2));
  EXPECT_EQ(Lock(s, {R({"a", "b", "c"})}), Acquired(3));
  EXPECT_EQ(Lock(s, {W({"a", "d"})}), Enqueued(4));  // blocked by R ["a"]
  EXPECT_EQ(Lock(s, {W({"e"})}), Acquired(5));
}

TYPED_TEST(SpaceTest, ReaderDoesNotOvertakeQueuedWriter) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {R({"a"})}), Acquired(1));
  EXPECT_EQ(Lock(s, {W({"a"})}), Enqueued(2));
  EXPECT_EQ(Lock(s, {R({"a"})}), Enqueued(3));
  EXPECT_EQ(Lock(s, {R({"a", "x"})}), Enqueued(4));
  EXPECT_EQ(Unlock(s, 1), Ids{2});
  EXPECT_EQ(Unlock(s, 2), (Ids{3, 4}));
}

TYPED_TEST(SpaceTest, MultiResourceLockKeepsItsPlaceInEveryQueue) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {W({"a"})}), Acquired(1));
  EXPECT_EQ(Lock(s, {W({"b"})}), Acquired(2));
  EXPECT_EQ(Lock(s, {W({"a"}), W({"b"})}), Enqueued(3));
  EXPECT_EQ(Lock(s, {W({"a"})}), Enqueued(4));
  EXPECT_EQ(Lock(s, {R({"b"})}), Enqueued(5));
  EXPECT_EQ(Unlock(s, 1), Ids{});  // 3 holds its place ahead of 4
  EXPECT_EQ(Unlock(s, 2), Ids{3});
  EXPECT_EQ(Unlock(s, 3), (Ids{4, 5}));
}

TYPED_TEST(SpaceTest, CancellingEnqueuedLockWakesLocksWaitingOnlyForIt) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {R({"a"})}), Acquired(1));
  EXPECT_EQ(Lock(s, {W({"a"})}), Enqueued(2));
  EXPECT_EQ(Lock(s, {R({"a", "b"})}), Enqueued(3));  // waits only for 2
  EXPECT_EQ(Lock(s, {W({"a", "c"})}), Enqueued(4));  // waits for 1 and 2
  EXPECT_EQ(Unlock(s, 2), Ids{3});
  EXPECT_EQ(s.State(2), LockState::kNone);
  EXPECT_EQ(s.State(4), LockState::kEnqueued);
  EXPECT_EQ(Unlock(s, 1), Ids{4});
}

TYPED_TEST(SpaceTest, CancelledLockIsNeverReportedAcquired) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {W({"a"})}), Acquired(1));
  EXPECT_EQ(Lock(s, {W({"a"}), W({"b"})}), Enqueued(2));
  EXPECT_EQ(Lock(s, {W({"b"})}), Enqueued(3));
  EXPECT_EQ(Unlock(s, 2), Ids{3});
  EXPECT_EQ(Unlock(s, 1), Ids{});
}

TYPED_TEST(SpaceTest, OneReleaseWakesEveryWaiterItBlocked) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {W({"a"})}), Acquired(1));
  EXPECT_EQ(Lock(s, {R({"a"})}), Enqueued(2));
  EXPECT_EQ(Lock(s, {R({"a", "b"})}), Enqueued(3));
  EXPECT_EQ(Lock(s, {R({})}), Enqueued(4));
  EXPECT_EQ(Unlock(s, 1), (Ids{2, 3, 4}));
}

TYPED_TEST(SpaceTest, WaitsForEarlierLockThatIsItselfEnqueued) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {W({"a"})}), Acquired(1));
  EXPECT_EQ(Lock(s, {W({"a"}), R({"b"})}), Enqueued(2));
  EXPECT_EQ(Lock(s, {W({"b"})}), Enqueued(3));  // conflicts with 2 only
  EXPECT_EQ(Unlock(s, 1), Ids{2});
  EXPECT_EQ(Unlock(s, 2), Ids{3});
}

TYPED_TEST(SpaceTest, IdsCountUpAndAreNeverReused) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {W({"a"})}).id, 1u);
  EXPECT_EQ(Lock(s, {W({"a"})}).id, 2u);
  EXPECT_EQ(Unlock(s, 1), Ids{2});
  EXPECT_EQ(Unlock(s, 2), Ids{});
  EXPECT_EQ(Lock(s, {W({"a"})}).id, 3u);
  EXPECT_EQ(s.GetStats().last_id, 3u);
}

// SkipTo raises the last ID, never lowers it, and is not a step: the live
// locks keep their states and the next request gets the next step number.
TYPED_TEST(SpaceTest, SkipToRaisesTheNextIdOnly) {
  auto& s = this->space_;
  s.SkipTo(4);
  EXPECT_EQ(s.GetStats().last_id, 4u);
  EXPECT_EQ(s.Request(std::vector{W({"a"})}, {}),
            (RequestResult{.step = 1, .id = 5, .acquired = true}));
  s.SkipTo(9);
  s.SkipTo(7);  // lower: changes nothing
  EXPECT_EQ(s.GetStats().last_id, 9u);
  EXPECT_EQ(s.State(5), LockState::kAcquired);
  EXPECT_EQ(s.Request(std::vector{R({"a", "b"})}, {}),
            (RequestResult{.step = 2, .id = 10, .acquired = false}));
  EXPECT_EQ(Unlock(s, 5), Ids{10});
  s.SkipTo(10);  // equal: changes nothing
  EXPECT_EQ(Lock(s, {R({"a"})}), Acquired(11));
}

TYPED_TEST(SpaceTest, ReleaseOfAnIdThatIsNotLiveChangesNothing) {
  auto& s = this->space_;
  EXPECT_FALSE(s.Release(1).found);
  EXPECT_EQ(Lock(s, {W({"a"})}), Acquired(1));
  EXPECT_EQ(Lock(s, {W({"a"})}), Enqueued(2));
  EXPECT_FALSE(s.Release(7).found);
  EXPECT_FALSE(s.Release(0).found);
  EXPECT_EQ(Unlock(s, 1), Ids{2});
  EXPECT_FALSE(s.Release(1).found);
  EXPECT_EQ(s.State(2), LockState::kAcquired);
}

// Every request and release is a step, found or not, numbered in order.
TYPED_TEST(SpaceTest, StepsAreNumberedInOrder) {
  auto& s = this->space_;
  EXPECT_EQ(s.Request(std::vector{W({"a"})}, {}).step, 1u);
  EXPECT_EQ(s.Release(9).step, 2u);
  EXPECT_EQ(s.Request(std::vector{W({"a"})}, {}).step, 3u);
  EXPECT_EQ(s.Release(1).step, 4u);
  EXPECT_EQ(s.Release(2).step, 5u);
}

class CountingWaiter : public Waiter {
 public:
  void Notify(LockId) override { ADD_FAILURE() << "the space called out"; }
};

// An enqueued lock's acquisition comes back with the waiter its request
// named; the space never calls it.
TYPED_TEST(SpaceTest, AcquisitionsComeBackWithTheirWaiters) {
  auto& s = this->space_;
  auto first = std::make_shared<CountingWaiter>();
  auto second = std::make_shared<CountingWaiter>();
  auto third = std::make_shared<CountingWaiter>();
  EXPECT_TRUE(s.Request(std::vector{W({"a"})}, first).acquired);
  EXPECT_FALSE(s.Request(std::vector{R({"a", "b"})}, second).acquired);
  EXPECT_FALSE(s.Request(std::vector{R({"a"})}, third).acquired);
  EXPECT_FALSE(s.Request(std::vector{W({"a"})}, {}).acquired);
  const ReleaseResult result = s.Release(1);
  const std::vector<Acquisition> want = {{2, second}, {3, third}};
  EXPECT_EQ(result.acquired, want);
  // A different waiter is a different acquisition.
  EXPECT_NE(result.acquired,
            (std::vector<Acquisition>{{2, third}, {3, second}}));
  EXPECT_EQ(s.Release(2).acquired, std::vector<Acquisition>{});
  EXPECT_EQ(s.Release(3).acquired, (std::vector<Acquisition>{{4, {}}}));
}

// A live lock, enqueued or acquired, keeps the waiter its request named;
// once it is released, or for an ID never issued, there is none.
TYPED_TEST(SpaceTest, WaiterOfNamesALiveLocksWaiter) {
  auto& s = this->space_;
  auto holder = std::make_shared<CountingWaiter>();
  auto waiter = std::make_shared<CountingWaiter>();
  const auto same = [](const WaiterRef& a, const WaiterRef& b) {
    return !a.owner_before(b) && !b.owner_before(a);
  };
  EXPECT_TRUE(s.Request(std::vector{W({"a"})}, holder).acquired);
  EXPECT_FALSE(s.Request(std::vector{W({"a"})}, waiter).acquired);
  EXPECT_TRUE(same(s.WaiterOf(1), holder));
  EXPECT_TRUE(same(s.WaiterOf(2), waiter));
  EXPECT_TRUE(same(s.WaiterOf(3), {}));
  s.Release(1);
  EXPECT_TRUE(same(s.WaiterOf(1), {}));
  EXPECT_TRUE(same(s.WaiterOf(2), waiter));  // acquired now
  s.Release(2);
  EXPECT_TRUE(same(s.WaiterOf(2), {}));
}

TYPED_TEST(SpaceTest, StatsCountLocksResourcesAndPaths) {
  auto& s = this->space_;
  EXPECT_EQ(s.GetStats(), Stats{});
  Lock(s, {W({"a", "b"}), R({"c"})});              // acquired: 2 resources
  Lock(s, {R({"a"})});                             // enqueued: 1 resource
  Lock(s, {W({"a", "b"}), W({"a", "b"}), W({})});  // enqueued: 3 resources
  Stats want{.last_id = 3,
             .locks_pending = 2,
             .locks_acquired = 1,
             .resources_pending = 4,
             .resources_acquired = 2,
             .path_count = 3};  // a, a/b, c
  EXPECT_EQ(s.GetStats(), want);

  Unlock(s, 1);  // 2 acquired, 3 waits for it
  want = {.last_id = 3,
          .locks_pending = 1,
          .locks_acquired = 1,
          .resources_pending = 3,
          .resources_acquired = 1,
          .path_count = 2};  // a, a/b
  EXPECT_EQ(s.GetStats(), want);

  Unlock(s, 3);
  Unlock(s, 2);
  EXPECT_EQ(s.GetStats(), Stats{.last_id = 3});
}

TYPED_TEST(SpaceTest, EmptyLockConflictsWithNothing) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {W({})}), Acquired(1));
  EXPECT_EQ(Lock(s, {}), Acquired(2));
  EXPECT_EQ(Unlock(s, 2), Ids{});
}

TYPED_TEST(SpaceTest, SegmentsAreComparedByteForByte) {
  auto& s = this->space_;
  EXPECT_EQ(Lock(s, {W({"a/b"})}), Acquired(1));
  EXPECT_EQ(Lock(s, {W({"a", "b"})}), Acquired(2));
  EXPECT_EQ(Lock(s, {W({""})}), Acquired(3));
  EXPECT_EQ(Lock(s, {W({"", ""})}), Enqueued(4));
  EXPECT_EQ(Lock(s, {W({std::string("x\0y", 3)})}), Acquired(5));
  EXPECT_EQ(Lock(s, {W({"x"})}), Acquired(6));
}

}  // namespace
}  // namespace locktopus
