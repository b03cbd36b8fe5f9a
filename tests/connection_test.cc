// The connection state machine (server/core/connection.h), driven with a
// fake transport: every conversation, crossing notices, drops and abandon
// timers, the lock budget's 1013 refusal, the counters, and an exception
// thrown from the transport.

#include "server/core/connection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/core/inspect.h"
#include "server/core/lock_service.h"
#include "tests/fake_io.h"
#include "tests/test_support.h"
#include "wire/pages.h"

namespace locktopus::server {
namespace {

using locktopus::testing::FakeIo;
using locktopus::testing::kLockA;
using locktopus::testing::kRelease;
using locktopus::testing::W;
using wire::ConnState;
using wire::ProtocolErrorKind;

class ConnectionTest : public ::testing::Test {
 protected:
  using Client = locktopus::testing::FakeClient;

  Client Connect(std::chrono::milliseconds abandon = std::chrono::seconds(60)) {
    configs_.push_back(std::make_unique<ConnectionConfig>());
    configs_.back()->abandon_timeout = abandon;
    return Client(ns_, *configs_.back());
  }

  // Delivers every notice a fake received, as the transport would.
  static void Deliver(Client& c) {
    locktopus::testing::Deliver(*c.io, *c.conn);
  }

  const std::shared_ptr<LockService> service_ = std::make_shared<LockService>();
  const NamespaceHold ns_ = service_->Open("test");
  std::vector<std::unique_ptr<ConnectionConfig>> configs_;
};

// A namespace whose locks only queue and cancel still asks for the next
// raise of the durable ceiling (no acquisition is announced there, so the
// gate must see every ID issued); and at the ceiling a lock is refused
// rather than given an ID above it.
TEST_F(ConnectionTest, QueuedAndCancelledLocksStillAskForARaise) {
  ha::GrantGate gate;
  int raises = 0;
  gate.OnRaise([&raises] { ++raises; });
  gate.SetIdLimit(/*limit=*/8, /*raise_at=*/5);
  const ha::Time now = ha::Clock::now();
  gate.Enter(ha::GrantGate::Phase::kOpen, now, now + std::chrono::hours(1));
  Client holder = Connect();
  configs_.back()->gate = &gate;
  holder.conn->OnFrame(kLockA);
  Client waiter = Connect();
  configs_.back()->gate = &gate;
  for (int i = 0; i < 4; ++i) {
    waiter.conn->OnFrame(kLockA);    // enqueued: IDs 2 to 5
    waiter.conn->OnFrame(kRelease);  // cancelled
  }
  EXPECT_EQ(raises, 1);
  for (int i = 0; i < 3; ++i) {
    waiter.conn->OnFrame(kLockA);  // IDs 6 to 8
    waiter.conn->OnFrame(kRelease);
  }
  waiter.conn->OnFrame(kLockA);  // ID 9: above the ceiling
  EXPECT_EQ(waiter.io->closed_with, kTryAgainLaterCloseCode);
  EXPECT_EQ(waiter.io->sent.back(),
            wire::FormatError(
                "lock refused: lock IDs are at the durable ceiling (8), "
                "which could not be raised yet; try again later"));
  EXPECT_EQ(ns_->State(9), LockState::kNone);
}

// The gate tests' clock starts at kT0; their gate is in its grace until
// kT0 + 5 s, grants until kT0 + 10 s, and announces no ID above 1000.
constexpr ha::Time kT0{std::chrono::hours(1)};
void EnterGrace(ha::GrantGate& gate) {
  using std::chrono::seconds;
  gate.SetCeiling(1000, 100);
  gate.Enter(ha::GrantGate::Phase::kGrace, kT0 + seconds(5), kT0 + seconds(10));
}

// The gate path of an acquisition, on the connection's clock (ConnectionIo::
// Now): in the grace a lock the engine grants is answered `enqueued` and
// announced when the grace ends; past the window, or with the gate closed,
// it is never announced; inside the window it is, through SendGrant.
TEST_F(ConnectionTest, TheGateDecidesEveryAnnouncementOnTheConnectionsClock) {
  using std::chrono::seconds;
  ha::GrantGate gate;
  EnterGrace(gate);
  const auto connect = [&] {
    Client c = Connect();
    configs_.back()->gate = &gate;
    return c;
  };

  Client held = connect();  // in the grace: held
  held.io->now = kT0 + seconds(1);
  held.conn->OnFrame(kLockA);
  EXPECT_EQ(held.io->sent,
            std::vector<std::string>{
                R"({"id":"1","action":"lock","state":"enqueued"})"});
  EXPECT_EQ(ns_->State(1), LockState::kAcquired);
  EXPECT_TRUE(held.io->notices.empty());
  gate.EndGrace(kT0 + seconds(5));
  EXPECT_EQ(held.io->notices, std::vector<LockId>{1});
  held.io->now = kT0 + seconds(6);
  Deliver(held);
  EXPECT_EQ(held.io->sent.back(),
            R"({"id":"1","action":"lock","state":"acquired"})");
  EXPECT_EQ(held.io->grants, std::vector<std::size_t>{1});
  held.conn->OnFrame(kRelease);

  Client granted = connect();  // open, inside the window
  granted.io->now = kT0 + seconds(9);
  granted.conn->OnFrame(kLockA);
  EXPECT_EQ(granted.io->grants, std::vector<std::size_t>{0});
  granted.conn->OnFrame(kRelease);

  Client late = connect();  // the window has passed: never announced
  late.io->now = kT0 + seconds(10);
  late.conn->OnFrame(kLockA);
  EXPECT_EQ(late.io->sent,
            std::vector<std::string>{
                R"({"id":"3","action":"lock","state":"enqueued"})"});
  EXPECT_TRUE(late.io->notices.empty());
  late.conn->OnFrame(kRelease);

  gate.Extend(kT0 + seconds(20));
  gate.Close();  // fenced: never announced, however wide the window
  Client closed = connect();
  closed.io->now = kT0 + seconds(11);
  closed.conn->OnFrame(kLockA);
  EXPECT_TRUE(closed.io->grants.empty());
  EXPECT_TRUE(closed.io->notices.empty());
}

// Announce: held in the grace (and told when it ends), granted inside the
// window, refused past it and above the ceiling.
TEST(GrantGate, AnnounceHoldsGrantsOrRefuses) {
  using std::chrono::seconds;
  ha::GrantGate gate;
  EnterGrace(gate);
  auto waiter = std::make_shared<FakeIo>();
  EXPECT_FALSE(gate.Announce(kT0, 1, waiter));  // held
  gate.EndGrace(kT0);
  EXPECT_EQ(waiter->notices, std::vector<LockId>{1});
  EXPECT_TRUE(gate.Announce(kT0 + seconds(1), 2, waiter));
  EXPECT_FALSE(gate.Announce(kT0 + seconds(10), 3, waiter));  // window over
  EXPECT_FALSE(gate.Announce(kT0, 1001, waiter));  // above the ceiling
  EXPECT_EQ(waiter->notices, std::vector<LockId>{1});
}

TEST_F(ConnectionTest, LockReleaseAndQueuedAcquisition) {
  Client a = Connect(), b = Connect();
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  EXPECT_EQ(a.io->sent,
            std::vector<std::string>{
                R"({"id":"1","action":"lock","state":"acquired"})"});
  EXPECT_EQ(b.io->sent,
            std::vector<std::string>{
                R"({"id":"2","action":"lock","state":"enqueued"})"});
  a.conn->OnFrame(kRelease);
  EXPECT_EQ(a.io->sent.back(),
            R"({"id":"1","action":"release","state":"ready"})");
  EXPECT_EQ(b.io->notices, std::vector<LockId>{2});
  Deliver(b);
  EXPECT_EQ(b.io->sent.back(),
            R"({"id":"2","action":"lock","state":"acquired"})");
  EXPECT_EQ(b.conn->state(), ConnState::kAcquired);
  b.conn->OnFrame(kRelease);
  EXPECT_EQ(b.conn->state(), ConnState::kReady);
  EXPECT_EQ(ns_->GetStats(), Stats{.last_id = 2});
  // Every `acquired` frame, at once or later, and only those, go through
  // SendGrant: the transport checks the grant window again when it writes
  // them (ha/gate.h).
  EXPECT_EQ(a.io->grants, std::vector<std::size_t>{0});
  EXPECT_EQ(b.io->grants, std::vector<std::size_t>{1});
}

TEST_F(ConnectionTest, InspectorShowsWhoHoldsAndWhoWaitsUntilTheAbandonEnds) {
  Client a = Connect(), b = Connect();
  configs_[0]->holder = std::make_shared<const HolderInfo>(HolderInfo{
      .client_name = "job-1", .connection = 7, .peer = "10.0.0.1:9"});
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  std::optional<wire::LocksPage> page = InspectLocks(*service_, "test", {});
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->live, 2u);
  ASSERT_EQ(page->locks.size(), 2u);
  const wire::ListedLock& held = page->locks[0];
  EXPECT_EQ(held.state, LockState::kAcquired);
  EXPECT_EQ(held.client_name, "job-1");
  EXPECT_EQ(held.connection, 7u);
  EXPECT_EQ(held.peer, "10.0.0.1:9");
  EXPECT_FALSE(held.abandoned());
  EXPECT_EQ(page->locks[1].state, LockState::kEnqueued);
  // Made without a holder: none shown.
  EXPECT_EQ(page->locks[1].client_name, std::nullopt);
  EXPECT_EQ(page->locks[1].connection, std::nullopt);
  EXPECT_EQ(page->locks[1].peer, std::nullopt);
  EXPECT_EQ(page->locks[1].waits_for, std::vector<LockId>{1});

  // The connection goes: the lock's record stays with its abandon timer,
  // and the page shows no connection any more.
  a.conn->OnClosed();
  a.conn.reset();
  page = InspectLocks(*service_, "test", {});
  ASSERT_TRUE(page.has_value());
  const wire::ListedLock& abandoned = page->locks[0];
  ASSERT_TRUE(abandoned.abandoned());
  EXPECT_GT(*abandoned.release_in_ms, 59'000u);
  EXPECT_EQ(abandoned.client_name, "job-1");
  EXPECT_EQ(abandoned.connection, std::nullopt);
  EXPECT_EQ(abandoned.peer, "10.0.0.1:9");
  EXPECT_EQ(page->locks[1].waits_for, std::vector<LockId>{1});
  EXPECT_EQ(InspectLocks(*service_, "never-opened", {}), std::nullopt);

  // The timer releases it; the waiter's notice still arrives.
  ASSERT_EQ(a.io->timers.size(), 1u);
  a.io->timers[0].second();
  EXPECT_EQ(b.io->notices, std::vector<LockId>{2});
  Deliver(b);
  page = InspectLocks(*service_, "test", {});
  ASSERT_EQ(page->locks.size(), 1u);
  EXPECT_EQ(page->locks[0].state, LockState::kAcquired);
}

TEST_F(ConnectionTest, ReleaseCrossingAcquisitionNeverSendsAcquiredAfterReady) {
  Client a = Connect(), b = Connect();
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  a.conn->OnFrame(kRelease);  // b's notice is now in flight
  b.conn->OnFrame(kRelease);  // b cancels before the notice arrives
  Deliver(b);
  EXPECT_EQ(b.io->sent,
            (std::vector<std::string>{
                R"({"id":"2","action":"lock","state":"enqueued"})",
                R"({"id":"2","action":"release","state":"ready"})"}));
  EXPECT_EQ(ns_->State(2), LockState::kNone);
}

TEST_F(ConnectionTest, ActionsNotAllowedInTheStateAreProtocolErrors) {
  Client a = Connect();
  a.conn->OnFrame(kRelease);
  EXPECT_EQ(a.io->sent.back(),
            "communication error: invalid action [release] in state [ready]");
  EXPECT_EQ(a.io->closed_with, 3000);

  Client b = Connect();
  b.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  EXPECT_EQ(b.io->sent.back(),
            "communication error: invalid action [lock] in state [acquired]");

  Client c = Connect();
  c.conn->OnFrame(kLockA);
  EXPECT_EQ(c.io->sent.back(),
            R"({"id":"2","action":"lock","state":"enqueued"})");
  c.conn->OnFrame(kLockA);
  EXPECT_EQ(c.io->sent.back(),
            "communication error: invalid action [lock] in state [enqueued]");
  EXPECT_EQ(c.io->closed_with, 3000);
  // The enqueued lock went as on a drop: cancelled at once.
  EXPECT_EQ(ns_->State(2), LockState::kNone);
}

TEST_F(ConnectionTest, DropCancelsEnqueuedLockAtOnce) {
  Client a = Connect(), b = Connect(), c = Connect();
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  c.conn->OnFrame(kLockA);
  b.conn->OnClosed();
  EXPECT_EQ(ns_->State(2), LockState::kNone);
  EXPECT_TRUE(b.io->timers.empty());
  a.conn->OnFrame(kRelease);
  EXPECT_EQ(c.io->notices, std::vector<LockId>{3});
}

TEST_F(ConnectionTest, DropKeepsAcquiredLockForTheAbandonTimeout) {
  Client a = Connect(std::chrono::milliseconds(1234)), b = Connect();
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  a.conn->OnClosed();
  a.conn->OnClosed();  // idempotent
  ASSERT_EQ(a.io->timers.size(), 1u);
  EXPECT_EQ(a.io->timers[0].first, std::chrono::milliseconds(1234));
  EXPECT_EQ(ns_->State(1), LockState::kAcquired);
  EXPECT_EQ(ns_->abandoned().load(), 1u);  // the timer runs
  EXPECT_TRUE(b.io->notices.empty());
  a.io->timers[0].second();  // the abandon timeout passes
  EXPECT_EQ(ns_->State(1), LockState::kNone);
  EXPECT_EQ(ns_->abandoned().load(), 0u);
  EXPECT_EQ(b.io->notices, std::vector<LockId>{2});
}

TEST_F(ConnectionTest, ZeroAbandonTimeoutReleasesAtOnce) {
  Client a = Connect(std::chrono::milliseconds(0));
  a.conn->OnFrame(kLockA);
  a.conn->OnClosed();
  EXPECT_TRUE(a.io->timers.empty());
  EXPECT_EQ(ns_->State(1), LockState::kNone);
  EXPECT_EQ(ns_->abandoned().load(), 0u);
}

TEST_F(ConnectionTest, ProtocolErrorWhileAcquiredAbandonsTheLock) {
  Client a = Connect(std::chrono::milliseconds(50));
  a.conn->OnFrame(kLockA);
  a.conn->OnFrame("not json");
  EXPECT_EQ(a.io->sent.back().rfind("communication error: invalid JSON", 0),
            0u);
  EXPECT_EQ(a.io->closed_with, 3000);
  ASSERT_EQ(a.io->timers.size(), 1u);
  EXPECT_EQ(ns_->State(1), LockState::kAcquired);
  a.conn->OnFrame(kRelease);  // nothing is read after the error
  EXPECT_EQ(ns_->State(1), LockState::kAcquired);
  a.io->timers[0].second();
  EXPECT_EQ(ns_->State(1), LockState::kNone);
}

TEST_F(ConnectionTest, DrainingRefusesNewLocksButNotReleases) {
  std::atomic<bool> draining{false};
  Client a = Connect();
  configs_.back()->draining = &draining;
  Client b = Connect();
  configs_.back()->draining = &draining;
  a.conn->OnFrame(kLockA);
  draining = true;
  b.conn->OnFrame(kLockA);
  EXPECT_EQ(b.io->sent.back(),
            "communication error: server is shutting down: no new locks");
  EXPECT_EQ(b.io->closed_with, 3000);
  a.conn->OnFrame(kRelease);
  EXPECT_EQ(a.io->sent.back(),
            R"({"id":"1","action":"release","state":"ready"})");
  EXPECT_EQ(ns_->GetStats(), Stats{.last_id = 1});
}

TEST_F(ConnectionTest, OversizedFrameIsAProtocolError) {
  Client a = Connect();
  a.conn->OnOversizedFrame(2'000'000);
  EXPECT_EQ(a.io->sent.back(),
            "communication error: message of at least 2000000 bytes over "
            "max-message-bytes (1048576)");
  EXPECT_EQ(a.io->closed_with, 3000);
}

// Each lock ends exactly one way, as counted: requested = acquired +
// cancelled, acquired = released + abandoned once nothing is live; the wait
// histogram counts every acquisition and the hold histogram every release.
TEST_F(ConnectionTest, CountsLockEventsAndProtocolErrors) {
  Metrics metrics(/*per_namespace_labels=*/true);
  auto connect = [&](std::chrono::milliseconds abandon =
                         std::chrono::seconds(60)) {
    Client c = Connect(abandon);
    configs_.back()->metrics = &metrics;
    return c;
  };
  auto locks = [&metrics] {
    const LockCounters& l = metrics.locks;
    return std::vector<std::uint64_t>{l.requested, l.acquired, l.released,
                                      l.cancelled, l.abandoned};
  };
  using V = std::vector<std::uint64_t>;

  Client a = connect(), b = connect(), c = connect(),
         d = connect(std::chrono::milliseconds(0));
  a.conn->OnFrame(kLockA);  // 1 acquired at once
  b.conn->OnFrame(kLockA);  // 2 enqueued
  c.conn->OnFrame(kLockA);  // 3 enqueued
  EXPECT_EQ(locks(), (V{3, 1, 0, 0, 0}));
  EXPECT_EQ(metrics.wait.Read().count, 1u);
  c.conn->OnFrame(kRelease);  // 3 cancelled by its client
  EXPECT_EQ(locks(), (V{3, 1, 0, 1, 0}));
  a.conn->OnFrame(kRelease);  // 1 released; 2 acquired once told
  EXPECT_EQ(locks(), (V{3, 1, 1, 1, 0}));
  EXPECT_EQ(metrics.hold.Read().count, 1u);
  Deliver(b);
  EXPECT_EQ(locks(), (V{3, 2, 1, 1, 0}));
  EXPECT_EQ(metrics.wait.Read().count, 2u);
  d.conn->OnFrame(kLockA);  // 4 enqueued behind 2
  d.conn->OnClosed();       // dropped while enqueued: cancelled
  b.conn->OnClosed();       // dropped while acquired: abandoned
  EXPECT_EQ(locks(), (V{4, 2, 1, 2, 1}));
  EXPECT_EQ(metrics.hold.Read().count, 1u);  // abandoned locks are not held

  // A release crossing its acquisition notice is a cancel, as the client
  // saw it: it never got `acquired`.
  Client e = connect(), f = connect();
  e.conn->OnFrame(kLockA);      // 5: lock 2 is abandoned, not yet released
  b.io->timers.at(0).second();  // the abandon timeout passes: 5 acquired
  f.conn->OnFrame(kLockA);      // 6 enqueued
  Deliver(e);
  e.conn->OnFrame(kRelease);  // 6's notice is now in flight
  f.conn->OnFrame(kRelease);  // and f cancels before it arrives
  Deliver(f);
  EXPECT_EQ(locks(), (V{6, 3, 2, 3, 1}));
  EXPECT_EQ(ns_->GetStats().locks_acquired + ns_->GetStats().locks_pending, 0u);
  EXPECT_EQ(metrics.wait.Read().count, 3u);
  EXPECT_EQ(metrics.hold.Read().count, 2u);

  // Protocol errors, by kind; an acquired lock goes as on a drop.
  std::atomic<bool> draining{false};
  Client g = connect(), h = connect(), i = connect(), j = connect(),
         k = connect(std::chrono::milliseconds(0));
  g.conn->OnFrame("nope");
  h.conn->OnFrame(kRelease);
  i.conn->OnOversizedFrame(5'000'000);
  k.conn->OnFrame(kLockA);
  k.conn->OnFrame(kLockA);  // lock in state acquired
  configs_[configs_.size() - 2]->draining = &draining;
  draining = true;
  j.conn->OnFrame(kLockA);
  auto errors = [&metrics](ProtocolErrorKind kind) {
    return metrics.protocol_errors[static_cast<std::size_t>(kind)].load();
  };
  EXPECT_EQ(errors(ProtocolErrorKind::kBadJson), 1u);
  EXPECT_EQ(errors(ProtocolErrorKind::kBadMessage), 0u);
  EXPECT_EQ(errors(ProtocolErrorKind::kOversized), 1u);
  EXPECT_EQ(errors(ProtocolErrorKind::kOverLimit), 0u);
  EXPECT_EQ(errors(ProtocolErrorKind::kWrongState), 2u);
  EXPECT_EQ(errors(ProtocolErrorKind::kShuttingDown), 1u);
  EXPECT_EQ(locks(), (V{7, 4, 2, 3, 2}));

  // The namespace's own counters agree, since the flag is on.
  const LockCounters& n = ns_->counters();
  EXPECT_EQ((V{n.requested, n.acquired, n.released, n.cancelled, n.abandoned}),
            locks());
}

TEST_F(ConnectionTest, NamespaceCountersOnlyWhenAskedFor) {
  Metrics metrics(/*per_namespace_labels=*/false);
  Client a = Connect();
  configs_.back()->metrics = &metrics;
  a.conn->OnFrame(kLockA);
  a.conn->OnFrame(kRelease);
  EXPECT_EQ(metrics.locks.requested, 1u);
  EXPECT_EQ(metrics.locks.released, 1u);
  EXPECT_EQ(ns_->counters().requested, 0u);
  EXPECT_EQ(ns_->counters().released, 0u);
}

TEST_F(ConnectionTest, AConnectionDestroyedWithoutClosingEndsItsLock) {
  Client a = Connect(), b = Connect(),
         c = Connect(std::chrono::milliseconds(0));
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  c.conn->OnFrame(
      R"({"action":"lock","resources":[{"type":"read","path":["z"]}]})");
  b.conn.reset();  // enqueued: cancelled at once
  EXPECT_EQ(ns_->State(2), LockState::kNone);
  c.conn.reset();  // acquired, abandon timeout 0: released at once
  EXPECT_EQ(ns_->State(3), LockState::kNone);
  a.conn.reset();  // acquired: abandoned for its timeout
  EXPECT_EQ(ns_->State(1), LockState::kAcquired);
  ASSERT_EQ(a.io->timers.size(), 1u);
  a.io->timers[0].second();
  EXPECT_EQ(ns_->State(1), LockState::kNone);
}

// A transport whose Send throws once armed, as a session handler does when
// it runs out of memory.
class ThrowingIo : public FakeIo {
 public:
  void Send(std::string text) override {
    if (armed) {
      armed = false;
      throw std::bad_alloc();
    }
    FakeIo::Send(std::move(text));
  }
  void SendGrant(std::string text) override {
    if (armed) {
      armed = false;
      throw std::bad_alloc();
    }
    FakeIo::SendGrant(std::move(text));
  }
  bool armed = false;
};

TEST_F(ConnectionTest, AnExceptionInAHandlerNeverLeaksTheLock) {
  Client a = Connect();
  a.conn->OnFrame(kLockA);
  for (bool acquire : {false, true}) {
    auto io = std::make_shared<ThrowingIo>();
    configs_.push_back(std::make_unique<ConnectionConfig>());
    configs_.back()->abandon_timeout = std::chrono::milliseconds(0);
    auto conn = std::make_unique<Connection>(ns_, *configs_.back(), *io, io);
    const LockId id = ns_->GetStats().last_id + 1;
    if (acquire) {
      // Its lock is acquired, then the notice's answer cannot be sent.
      conn->OnFrame(kLockA);
      a.conn->OnFrame(kRelease);
      io->armed = true;
      EXPECT_THROW(conn->OnAcquired(id), std::bad_alloc);
      EXPECT_EQ(ns_->State(id), LockState::kAcquired);
    } else {
      // Its lock is enqueued, then the answer cannot be sent.
      io->armed = true;
      EXPECT_THROW(conn->OnFrame(kLockA), std::bad_alloc);
      EXPECT_EQ(ns_->State(id), LockState::kEnqueued);
    }
    // The exception ends the session's chain of handlers: the session, and
    // with it the connection, is destroyed without a close.
    conn.reset();
    EXPECT_EQ(ns_->State(id), LockState::kNone);
  }
  // Nothing is left waiting: a new lock of the same path is acquired.
  Client b = Connect();
  b.conn->OnFrame(kLockA);
  EXPECT_EQ(b.conn->state(), ConnState::kAcquired);
}

TEST(LockBudget,
     ALockTheBudgetCannotCoverIsRefusedWith1013AndNothingElseChanges) {
  auto service = std::make_shared<LockService>(64 * 1024);
  const NamespaceHold ns = service->Open("t");
  Metrics metrics;
  ConnectionConfig config{.metrics = &metrics};
  auto connect = [&](FakeIo& io) {
    return std::make_unique<Connection>(ns, config, io, LockHolderRef());
  };
  FakeIo a_io, b_io, c_io;
  auto a = connect(a_io), b = connect(b_io), c = connect(c_io);
  a->OnFrame(kLockA);
  ASSERT_EQ(a->state(), ConnState::kAcquired);
  const std::uint64_t held = service->memory().used();
  EXPECT_GT(held, 0u);

  // 1,000 new paths: more than 64 KiB in the worst case.
  std::vector<Resource> big;
  for (int i = 0; i < 1000; ++i) big.push_back(W({std::to_string(i)}));
  b->OnFrame(wire::FormatLock(big));
  EXPECT_EQ(b_io.sent,
            std::vector<std::string>{
                "communication error: lock refused: the server's "
                "lock memory is full (over max-lock-memory (65536)); "
                "try again later"});
  EXPECT_EQ(b_io.closed_with, 1013);
  EXPECT_EQ(b_io.close_reason, "try again later");
  EXPECT_EQ(b->state(), ConnState::kReady);
  EXPECT_EQ(metrics.locks_refused_lock_memory.load(), 1u);
  EXPECT_EQ(metrics.locks.requested.load(), 1u);
  EXPECT_EQ(metrics
                .protocol_errors[static_cast<std::size_t>(
                    wire::ProtocolErrorKind::kOverLimit)]
                .load(),
            0u);
  // Nothing changed for the others: no ID used, the lock held still held,
  // the memory charged the same; a small lock still fits.
  EXPECT_EQ(ns->GetStats().last_id, 1u);
  EXPECT_EQ(service->memory().used(), held);
  c->OnFrame(R"({"action":"lock","resources":[{"type":"read","path":["b"]}]})");
  EXPECT_EQ(c_io.sent.back(),
            R"({"id":"2","action":"lock","state":"acquired"})");
  a->OnFrame(kRelease);
  c->OnFrame(kRelease);
  EXPECT_EQ(service->memory().used(), 0u);
  EXPECT_EQ(service->Find("t")->memory_bytes, 0u);
}

}  // namespace
}  // namespace locktopus::server
