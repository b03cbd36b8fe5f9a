// The active's side of replication (server/core/ha/replicator.h) on its
// own: a fake Io records commits, record writes and dropped streams, and the
// test answers the writes and moves the clock.

#include "server/core/ha/replicator.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/core/ha/commit_gate.h"

namespace locktopus::server::ha {
namespace {

using std::chrono::milliseconds;
using State = Replicator::State;

const Member kB{.name = "b:1", .revision = 10};
const Member kC{.name = "c:1", .revision = 11};
const Member kUs{.name = "a:1", .revision = 9};

class ReplicatorTest : public ::testing::Test, public Replicator::Io {
 protected:
  // Io.
  Time Now() override { return now_; }
  void After(Clock::duration delay, std::function<void()> fn) override {
    timers_.emplace(now_ + delay, std::move(fn));
  }
  Position LogEnd() override { return log_end_; }
  void SetInSync(
      std::vector<Member> standbys,
      std::function<void(const std::vector<Member>&)> written) override {
    writes_.push_back(standbys);
    written_ = std::move(written);
  }
  void Committed(Position position) override { commits_.push_back(position); }
  void Drop(FollowerId follower, const std::string& why) override {
    drops_[follower] = why;
  }

  // The record write in flight succeeds.
  void Write() {
    ASSERT_TRUE(written_) << "no write in flight";
    std::vector<Member> members = {kUs};
    members.insert(members.end(), writes_.back().begin(), writes_.back().end());
    auto written = std::move(written_);
    written_ = nullptr;
    written(members);
  }
  // Moves the clock, running the timers due.
  void Advance(Clock::duration span) {
    const Time end = now_ + span;
    while (!timers_.empty() && timers_.begin()->first <= end) {
      now_ = std::max(now_, timers_.begin()->first);
      auto fn = std::move(timers_.begin()->second);
      timers_.erase(timers_.begin());
      fn();
    }
    now_ = end;
  }
  // The log grows to `position`, sent to every stream.
  void Append(Position position) {
    log_end_ = position;
    replicator_.Appended(position);
  }
  // `id` of `member` opens at the log's end and acknowledges it, then the
  // record names it.
  void Join(FollowerId id, const Member& member) {
    replicator_.Opened(id, member, log_end_);
    replicator_.Acked(id, log_end_);
    ASSERT_EQ(replicator_.StateOf(id), State::kJoining);
    Write();
    ASSERT_EQ(replicator_.StateOf(id), State::kInSync);
  }

  const milliseconds bound_{500};
  Time now_ = Time(std::chrono::hours(1));
  std::multimap<Time, std::function<void()>> timers_;
  Position log_end_ = 0;
  std::vector<std::vector<Member>> writes_;
  std::function<void(const std::vector<Member>&)> written_;
  std::vector<Position> commits_;
  std::map<FollowerId, std::string> drops_;
  Replicator replicator_{bound_, *this};
};

TEST_F(ReplicatorTest, AloneEveryChangeIsCommittedAsItIsLogged) {
  Append(10);
  Advance(milliseconds(2000));
  EXPECT_EQ(replicator_.committed(), kEverything);
  EXPECT_TRUE(commits_.empty());
  EXPECT_TRUE(writes_.empty());
}

// A standby enters R once it has what was logged when it opened; the
// record names it only once it holds what was committed then, and from its
// entry on every commit waits for it.
TEST_F(ReplicatorTest, AStandbyJoinsRThenTheRecordThenGatesCommits) {
  Append(100);
  replicator_.Opened(1, kB, 80);  // a snapshot at 80, then 81..100
  EXPECT_EQ(replicator_.StateOf(1), State::kCatchingUp);
  Append(120);
  replicator_.Acked(1, 99);
  EXPECT_EQ(replicator_.StateOf(1), State::kCatchingUp);
  EXPECT_TRUE(commits_.empty());  // it waits for nothing yet
  replicator_.Acked(1, 100);      // what was logged when it opened
  EXPECT_EQ(replicator_.StateOf(1), State::kJoining);
  // Leaving solo: first a commit point at or below every change answered,
  // then the log's end, which the joiner must reach before the record
  // names it.
  EXPECT_EQ(commits_, (std::vector<Position>{120, 120}));
  EXPECT_TRUE(writes_.empty());
  Append(130);
  replicator_.Acked(1, 119);
  EXPECT_TRUE(writes_.empty());
  EXPECT_EQ(replicator_.committed(), 120u);
  replicator_.Acked(1, 125);
  ASSERT_EQ(writes_, (std::vector<std::vector<Member>>{{kB}}));
  EXPECT_EQ(replicator_.committed(), 125u);
  Write();
  EXPECT_EQ(replicator_.StateOf(1), State::kInSync);
  EXPECT_EQ(replicator_.in_sync(), std::vector<Member>{kB});
  replicator_.Acked(1, 130);
  EXPECT_EQ(replicator_.committed(), 130u);
}

TEST_F(ReplicatorTest, ACommitWaitsForEveryStandbyOfR) {
  Join(1, kB);
  Append(5);
  Join(2, kC);
  Append(9);
  replicator_.Acked(1, 9);
  EXPECT_EQ(replicator_.committed(), 5u);
  replicator_.Acked(2, 7);
  EXPECT_EQ(replicator_.committed(), 7u);
  replicator_.Acked(2, 9);
  EXPECT_EQ(replicator_.committed(), 9u);
  EXPECT_EQ(writes_.back(), (std::vector<Member>{kB, kC}));
}

// A standby that misses the ack bound is dropped, and leaves the record
// before anything past its last acknowledgement is committed.
TEST_F(ReplicatorTest, ALateStandbyLeavesTheRecordBeforeTheActiveGoesOn) {
  Join(1, kB);
  Append(10);
  replicator_.Acked(1, 4);
  Advance(bound_ - milliseconds(1));
  EXPECT_TRUE(drops_.empty());
  Advance(milliseconds(200));
  ASSERT_TRUE(drops_.contains(1));
  EXPECT_EQ(replicator_.StateOf(1), State::kLeaving);
  ASSERT_EQ(writes_.back(), std::vector<Member>{});
  EXPECT_EQ(replicator_.committed(), 4u);  // not past it before the write
  replicator_.Closed(1);
  EXPECT_EQ(replicator_.committed(), 4u);
  Write();
  EXPECT_EQ(replicator_.StateOf(1), std::nullopt);
  EXPECT_EQ(replicator_.committed(), kEverything);
  EXPECT_EQ(replicator_.in_sync(), std::vector<Member>{});
}

// A standby that keeps up, however slowly, within the bound stays.
TEST_F(ReplicatorTest, AStandbyWithinTheBoundStays) {
  Join(1, kB);
  for (Position p = 1; p <= 20; ++p) {
    Append(p);
    Advance(bound_ / 2);
    replicator_.Acked(1, p);
  }
  EXPECT_TRUE(drops_.empty());
  EXPECT_EQ(replicator_.committed(), 20u);
}

TEST_F(ReplicatorTest, AClosedStreamLeavesTheRecordFirst) {
  Join(1, kB);
  Join(2, kC);
  Append(3);
  replicator_.Acked(2, 3);
  replicator_.Closed(1);
  EXPECT_EQ(replicator_.committed(), 0u);
  ASSERT_EQ(writes_.back(), std::vector<Member>{kC});
  Write();
  EXPECT_EQ(replicator_.committed(), 3u);
  EXPECT_EQ(replicator_.in_sync(), std::vector<Member>{kC});
}

// A standby that reconnects is a new stream: it enters R only once its old
// stream has left the record.
TEST_F(ReplicatorTest, AReconnectJoinsOnlyAfterTheOldStreamLeft) {
  Join(1, kB);
  replicator_.Closed(1);
  ASSERT_EQ(writes_.back(), std::vector<Member>{});  // in flight
  replicator_.Opened(2, kB, 0);
  replicator_.Acked(2, 0);
  EXPECT_EQ(replicator_.StateOf(2), State::kCatchingUp);
  Write();
  EXPECT_EQ(replicator_.StateOf(1), std::nullopt);
  replicator_.Acked(2, 0);
  EXPECT_EQ(replicator_.StateOf(2), State::kJoining);
  Write();
  EXPECT_EQ(replicator_.StateOf(2), State::kInSync);
  EXPECT_EQ(replicator_.in_sync(), std::vector<Member>{kB});
}

// A joiner that goes before the record named it leaves R without a write.
TEST_F(ReplicatorTest, AJoinerNotYetInTheRecordLeavesWithoutAWrite) {
  Append(10);
  replicator_.Opened(1, kB, 10);
  Append(12);
  replicator_.Acked(1, 10);
  ASSERT_EQ(replicator_.StateOf(1), State::kJoining);
  EXPECT_TRUE(writes_.empty());  // 11 and 12 may have been answered
  replicator_.Closed(1);
  EXPECT_EQ(replicator_.StateOf(1), std::nullopt);
  EXPECT_TRUE(writes_.empty());
  EXPECT_EQ(replicator_.committed(), kEverything);
}

// A catching-up standby is never waited for, and never timed out.
TEST_F(ReplicatorTest, ACatchingUpStandbyIsNotWaitedFor) {
  Append(10);
  replicator_.Opened(1, kB, 0);
  Append(20);
  Advance(bound_ * 4);
  EXPECT_TRUE(drops_.empty());
  EXPECT_TRUE(commits_.empty());
  EXPECT_EQ(replicator_.committed(), kEverything);
}

// ---- the commit gate ------------------------------------------------------

TEST(CommitGate, AFrameWaitsForTheLogsEndWhenItWasQueued) {
  Position end = 0;
  CommitGate gate([&end] { return end; });
  std::vector<std::string> out;
  auto queue = [&](std::string frame) {
    gate.WhenCommitted(gate.Tag(), [&out, frame] { out.push_back(frame); });
  };
  end = 3;
  queue("solo");  // no standby waited for: out at once
  EXPECT_EQ(out, std::vector<std::string>{"solo"});
  gate.Advance(3);
  end = 5;
  queue("a");
  end = 7;
  queue("b");
  EXPECT_EQ(out.size(), 1u);
  gate.Advance(6);
  EXPECT_EQ(out, (std::vector<std::string>{"solo", "a"}));
  EXPECT_FALSE(gate.IsCommitted(7));
  gate.Advance(7);
  EXPECT_EQ(out, (std::vector<std::string>{"solo", "a", "b"}));
  gate.Advance(kEverything);
  end = 100;
  queue("c");
  EXPECT_EQ(out.back(), "c");
}

// Advance and WhenCommitted race on other threads: every callback runs
// exactly once, and never before its position is committed.
TEST(CommitGate, NoWaiterIsLostOrLetOutEarly) {
  std::atomic<Position> end{0};
  CommitGate gate([&end] { return end.load(); });
  gate.Advance(0);
  constexpr int kFrames = 20'000;
  std::atomic<int> ran{0}, early{0};
  std::thread advancer([&] {
    for (Position p = 1; p <= kFrames; ++p) gate.Advance(p);
  });
  std::thread queuer([&] {
    for (Position p = 1; p <= kFrames; ++p) {
      gate.WhenCommitted(p, [&, p] {
        if (!gate.IsCommitted(p)) early.fetch_add(1);
        ran.fetch_add(1);
      });
    }
  });
  advancer.join();
  queuer.join();
  EXPECT_EQ(ran.load(), kFrames);
  EXPECT_EQ(early.load(), 0);
}

}  // namespace
}  // namespace locktopus::server::ha
