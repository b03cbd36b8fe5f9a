// An operator's force release (server/core/force_release.h) with the
// connections it ends (Connection::OnForceReleased): the waiters move on in
// the same step, a connected holder is closed with 4000 after the reason
// frame and releases nothing of its own, an abandoned lock's timer ends
// without a second release and lets its namespace go, and each end is
// counted once as its connection saw it.

#include "server/core/force_release.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/core/connection.h"
#include "server/core/lock_service.h"
#include "server/core/metrics.h"
#include "tests/fake_io.h"
#include "wire/codec.h"

namespace locktopus::server {
namespace {

using locktopus::testing::Deliver;
using locktopus::testing::kLockA;
using locktopus::testing::kRelease;
using wire::ConnState;

class ForceReleaseTest : public ::testing::Test {
 protected:
  using Client = locktopus::testing::FakeClient;

  Client Connect(std::chrono::milliseconds abandon = std::chrono::seconds(60)) {
    configs_.push_back(std::make_unique<ConnectionConfig>(
        ConnectionConfig{.abandon_timeout = abandon, .metrics = &metrics_}));
    return Client(service_->Open("ns"), *configs_.back());
  }

  std::optional<ForcedRelease> Force(LockId id) {
    return ForceRelease(*service_, "ns", id);
  }

  Metrics metrics_;
  const std::shared_ptr<LockService> service_ = std::make_shared<LockService>();
  std::vector<std::unique_ptr<ConnectionConfig>> configs_;
};

TEST_F(ForceReleaseTest, TheWaiterIsAcquiredAndTheHolderClosedWith4000) {
  Client a = Connect(), b = Connect();
  configs_[0]->holder = std::make_shared<const HolderInfo>(HolderInfo{
      .client_name = "job-1", .connection = 7, .peer = "10.0.0.1:9"});
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  ASSERT_EQ(b.conn->state(), ConnState::kEnqueued);

  const std::optional<ForcedRelease> released = Force(1);
  ASSERT_TRUE(released.has_value());
  EXPECT_EQ(released->state, LockState::kAcquired);
  EXPECT_FALSE(released->abandoned);
  ASSERT_NE(released->holder, nullptr);
  EXPECT_EQ(released->holder->client_name, "job-1");
  // In the same step: the lock is gone and its waiter acquired.
  const NamespaceHold ns = service_->HoldIfOpen("ns");
  EXPECT_EQ(ns->State(1), LockState::kNone);
  EXPECT_EQ(ns->State(2), LockState::kAcquired);
  EXPECT_EQ(b.io->notices, std::vector<LockId>{2});
  EXPECT_EQ(a.io->force_released, std::vector<LockId>{1});

  Deliver(*a.io, *a.conn);
  EXPECT_EQ(a.io->sent.back(),
            "communication error: lock released by an operator");
  EXPECT_EQ(a.io->closed_with, 4000);
  EXPECT_EQ(a.io->close_reason, "lock released by an operator");
  EXPECT_EQ(a.conn->state(), ConnState::kReady);
  a.conn->OnClosed();  // the transport ends: nothing left to abandon
  EXPECT_TRUE(a.io->timers.empty());
  Deliver(*b.io, *b.conn);
  EXPECT_EQ(b.conn->state(), ConnState::kAcquired);
  EXPECT_EQ(b.io->sent.back(),
            R"({"id":"2","action":"lock","state":"acquired"})");

  // Counted once, as a release its client would have made.
  EXPECT_EQ(metrics_.locks.released.load(), 1u);
  EXPECT_EQ(metrics_.locks.abandoned.load(), 0u);
  EXPECT_EQ(metrics_.locks.cancelled.load(), 0u);
  EXPECT_EQ(metrics_.hold.Read().count, 1u);

  // Gone: a second force release finds nothing, and the holder's own
  // release could not have either.
  EXPECT_FALSE(Force(1).has_value());
}

TEST_F(ForceReleaseTest, AnEnqueuedLockIsCancelled) {
  Client a = Connect(), b = Connect(), c = Connect();
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  c.conn->OnFrame(kLockA);
  const std::optional<ForcedRelease> released = Force(2);
  ASSERT_TRUE(released.has_value());
  EXPECT_EQ(released->state, LockState::kEnqueued);
  EXPECT_TRUE(c.io->notices.empty());  // still behind lock 1
  Deliver(*b.io, *b.conn);
  EXPECT_EQ(b.io->closed_with, 4000);
  EXPECT_EQ(metrics_.locks.cancelled.load(), 1u);
  a.conn->OnFrame(kRelease);
  EXPECT_EQ(c.io->notices, std::vector<LockId>{3});
}

// A notice for a lock the connection no longer has changes nothing: it
// released it (and took another) before the notice arrived.
TEST_F(ForceReleaseTest, AStaleNoticeIsIgnored) {
  Client a = Connect();
  a.conn->OnFrame(kLockA);
  ASSERT_TRUE(Force(1).has_value());
  a.conn->OnFrame(kRelease);  // crossed the force release: found nothing
  a.conn->OnFrame(kLockA);    // lock 2
  const std::size_t sent = a.io->sent.size();
  Deliver(*a.io, *a.conn);
  EXPECT_EQ(a.io->sent.size(), sent);
  EXPECT_EQ(a.io->closed_with, 0);
  EXPECT_EQ(a.conn->state(), ConnState::kAcquired);
}

// The main use: a lock whose holder has gone, waiting out a long abandon
// timeout. Its waiter is acquired at once; the timer, when it fires,
// releases nothing more; and the namespace is not held for it meanwhile.
TEST_F(ForceReleaseTest, AnAbandonedLockEndsAtOnceAndItsTimerReleasesNothing) {
  Client a = Connect(std::chrono::minutes(10)), b = Connect();
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  a.conn->OnClosed();
  a.conn.reset();
  ASSERT_EQ(a.io->timers.size(), 1u);
  EXPECT_EQ(service_->HoldIfOpen("ns")->abandoned().load(), 1u);

  const std::optional<ForcedRelease> released = Force(1);
  ASSERT_TRUE(released.has_value());
  EXPECT_TRUE(released->abandoned);
  // Abandoned no more: the gauge of /metrics is down at once.
  EXPECT_EQ(service_->HoldIfOpen("ns")->abandoned().load(), 0u);
  EXPECT_EQ(b.io->notices, std::vector<LockId>{2});
  Deliver(*b.io, *b.conn);
  b.conn->OnFrame(kRelease);
  b.conn->OnClosed();
  b.conn.reset();
  // Nothing holds the namespace now: not the pending timer either.
  EXPECT_EQ(service_->open(), 0u);

  b = Connect();
  b.conn->OnFrame(kLockA);  // lock 3, in the namespace opened again
  a.io->timers[0].second();
  EXPECT_EQ(service_->HoldIfOpen("ns")->State(3), LockState::kAcquired);
  EXPECT_EQ(metrics_.locks.abandoned.load(), 1u);
}

TEST_F(ForceReleaseTest, NothingChangesForALockThatIsNotLive) {
  EXPECT_FALSE(Force(1).has_value());  // the namespace is not open
  EXPECT_EQ(service_->open(), 0u);     // and is not opened
  Client a = Connect();
  a.conn->OnFrame(kLockA);
  EXPECT_FALSE(Force(2).has_value());
  EXPECT_FALSE(Force(0).has_value());
  EXPECT_EQ(service_->HoldIfOpen("ns")->State(1), LockState::kAcquired);
  EXPECT_TRUE(a.io->force_released.empty());
}

}  // namespace
}  // namespace locktopus::server
