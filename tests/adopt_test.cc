// Adoption (server/core/adopt.h): a replica taken from a real active's
// change log — sessions and plain connections, locks held, queued and
// released, namespaces with ID gaps — is adopted by a fresh server, which
// then serves exactly what a single server would after every connection
// dropped at the takeover, with every window restarted and lengthened.

#include "server/core/adopt.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "server/core/force_release.h"
#include "server/core/inspect.h"
#include "tests/fake_io.h"
#include "wire/codec.h"
#include "wire/pages.h"

namespace locktopus::server {
namespace {

using std::chrono::milliseconds;
using testing::FakeClient;
using testing::FakeIo;
using wire::ConnState;
using wire::SessionFrame;

constexpr milliseconds kWindow{5000};   // every session's
constexpr milliseconds kAbandon{2000};  // every plain connection's
constexpr milliseconds kExtend{1000};   // the old active's grant window
constexpr LockId kFloor = 100;          // the new active's ID floor

// A lock frame of one resource on the one-segment path `path`.
std::string LockFrame(std::string_view type, std::string_view path) {
  return R"({"action":"lock","resources":[{"type":")" + std::string(type) +
         R"(","path":[")" + std::string(path) + R"("]}]})";
}

// The answer to a lock request.
std::string Answer(LockId id, ConnState state) {
  return wire::FormatAnswer({id, wire::Action::kLock, state});
}

// Plain connections, each of which sends one frame at first; they stay
// connected.
class PlainClients {
 public:
  PlainClients() { config_.abandon_timeout = kAbandon; }
  FakeClient& Connect(LockService& service, std::string_view ns,
                      std::string_view frame) {
    clients_.push_back(std::make_unique<FakeClient>(service.Open(ns), config_));
    clients_.back()->conn->OnFrame(frame);
    return *clients_.back();
  }

 private:
  ConnectionConfig config_;
  std::vector<std::unique_ptr<FakeClient>> clients_;
};

// Timers on a clock of their own, fired in time order as it advances.
class FakeTimers {
 public:
  TimerFn Fn() {
    return [this](milliseconds delay, std::function<void()> fn) {
      due_.emplace(now_ + delay, std::move(fn));
    };
  }
  void Advance(milliseconds by) {
    now_ += by;
    while (!due_.empty() && due_.begin()->first <= now_) {
      auto fn = std::move(due_.begin()->second);
      due_.erase(due_.begin());
      fn();
    }
  }
  std::size_t pending() const { return due_.size(); }

 private:
  milliseconds now_{0};
  std::multimap<milliseconds, std::function<void()>> due_;
};

// The active whose state is replicated: a service and a session table with
// a change log, and its clients, which stay connected (its crash leaves
// them behind; none of them touches the new server).
class Active {
 public:
  Active() { session_config_.abandon_timeout = kWindow; }

  // A session of `ns` opened over a transport; its token's text.
  std::string Session(const std::string& ns) {
    auto session = table_->Create(service_->Open(ns), session_config_);
    auto io = std::make_shared<FakeIo>();
    EXPECT_TRUE(session->Attach(io, nullptr));
    sessions_.push_back({session, io});
    return session->token().Text();
  }
  // A frame from the last session opened.
  void SessionSends(std::string_view frame) {
    sessions_.back().first->OnFrame(sessions_.back().second.get(), frame);
  }
  // A plain connection to `ns` that sends `frame`.
  FakeClient& Plain(std::string_view ns, std::string_view frame) {
    return plains_.Connect(*service_, ns, frame);
  }
  // A plain connection to `ns` that sends `frame`, then releases its lock.
  void PlainReleased(std::string_view ns, std::string_view frame) {
    Plain(ns, frame).conn->OnFrame(testing::kRelease);
  }

  ha::ChangeLog& log() { return log_; }

 private:
  ha::ChangeLog log_;
  Metrics metrics_;
  std::shared_ptr<LockService> service_ =
      std::make_shared<LockService>(UINT64_MAX, &log_);
  std::shared_ptr<SessionTable> table_ =
      std::make_shared<SessionTable>(100, &metrics_, &log_);
  ConnectionConfig session_config_;
  std::vector<
      std::pair<std::shared_ptr<ClientSession>, std::shared_ptr<FakeIo>>>
      sessions_;
  PlainClients plains_;
};

// A lock as /locks_v1 lists it, the parts these tests compare.
struct Listed {
  LockId id = 0;
  LockState state = LockState::kNone;
  std::string resource;  // {write ["x"]}
  bool abandoned = false;
  bool detached = false;
  bool operator==(const Listed&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Listed& l) {
  return os << "{" << l.id << " "
            << (l.state == LockState::kAcquired ? "acquired" : "enqueued")
            << " " << l.resource << (l.abandoned ? " abandoned" : "")
            << (l.detached ? " detached" : "") << "}";
}

class AdoptTest : public ::testing::Test {
 protected:
  AdoptTest() {
    // Namespace a: IDs 1 to 8, with 4 and 8 released (gaps, one after the
    // last live lock), 3 and 7 enqueued plain locks (cancelled by the
    // takeover).
    active_.Plain("a", LockFrame("write", "x"));  // 1 acquired
    tokens_["s1"] = active_.Session("a");
    active_.SessionSends(LockFrame("write", "x"));        // 2 enqueued
    active_.Plain("a", LockFrame("write", "x"));          // 3 enqueued
    active_.PlainReleased("a", LockFrame("write", "y"));  // 4
    tokens_["s2"] = active_.Session("a");
    active_.SessionSends(LockFrame("write", "x"));        // 5 enqueued
    active_.Plain("a", LockFrame("read", "z"));           // 6 acquired
    active_.Plain("a", LockFrame("write", "z"));          // 7 enqueued
    active_.PlainReleased("a", LockFrame("write", "w"));  // 8
    // Namespace b: 1 released before the first live lock; 4, a reader
    // behind the cancelled writer 3, is acquired by the takeover.
    active_.PlainReleased("b", LockFrame("write", "q"));  // 1
    tokens_["s3"] = active_.Session("b");
    active_.SessionSends(LockFrame("read", "q"));  // 2 acquired
    active_.Plain("b", LockFrame("write", "q"));   // 3 enqueued
    tokens_["s4"] = active_.Session("b");
    active_.SessionSends(LockFrame("read", "q"));  // 4 enqueued
    // Namespace d: a session without a lock, and one whose lock is gone.
    tokens_["s5"] = active_.Session("d");
    tokens_["s6"] = active_.Session("d");
    active_.SessionSends(LockFrame("write", "v"));
    active_.SessionSends(testing::kRelease);

    // The standby's replica, change by change as a follower applies them.
    Follow(replica_, active_.log());
    service_->SetIdFloor(kFloor);
  }

  // Applies every change of `log` to `replica` in order, as a follower.
  static void Follow(ha::Replica& replica, const ha::ChangeLog& log) {
    const auto changes = log.From(1);
    ASSERT_TRUE(changes.has_value());
    ha::Position position = 0;
    for (const ha::Change& change : *changes) {
      ASSERT_EQ(replica.Apply(++position, change),
                ha::Replica::Outcome::kApplied)
          << change;
    }
  }

  void Adopt() {
    ASSERT_EQ(table_->live(), 0u);
    const Status status = AdoptReplica(replica_, kExtend, *service_, *table_,
                                       config_, timers_.Fn());
    ASSERT_TRUE(status.ok()) << status.error().message;
  }

  // What /locks_v1 lists of namespace `ns`; nothing if it is not open.
  std::vector<wire::ListedLock> Page(std::string_view ns) const {
    std::optional<wire::LocksPage> page =
        InspectLocks(*service_, ns, InspectQuery{});
    return page ? std::move(page->locks) : std::vector<wire::ListedLock>{};
  }
  std::vector<Listed> Locks(std::string_view ns) const {
    std::vector<Listed> locks;
    for (const wire::ListedLock& lock : Page(ns)) {
      locks.push_back({.id = lock.id,
                       .state = lock.state,
                       .resource = ToString(lock.resources),
                       .abandoned = lock.abandoned(),
                       .detached = lock.detached});
    }
    return locks;
  }
  std::optional<std::uint64_t> ReleaseIn(std::string_view ns, LockId id) const {
    for (const wire::ListedLock& lock : Page(ns)) {
      if (lock.id == id) return lock.release_in_ms;
    }
    return std::nullopt;
  }
  LockState StateOf(std::string_view ns, LockId id) const {
    const NamespaceHold hold = service_->HoldIfOpen(ns);
    return hold ? hold->State(id) : LockState::kNone;
  }

  // Session `name` of namespace `ns` resumed over `io`; its `resumed`
  // frame, or nullopt if it is not live.
  std::optional<SessionFrame> Resume(const std::string& name,
                                     std::string_view ns,
                                     const std::shared_ptr<FakeIo>& io) {
    auto session = table_->Find(tokens_.at(name), ns, "10.0.0.1");
    if (session == nullptr || !session->Attach(io, nullptr)) {
      return std::nullopt;
    }
    resumed_[name] = session;
    EXPECT_EQ(io->sent.size(), 1u);
    const auto frame = wire::ParseSessionFrame(io->sent.at(0));
    EXPECT_TRUE(frame.has_value());
    return frame;
  }

  // A new plain connection to `ns` that sends `frame`; the answer.
  std::string NewLock(std::string_view ns, std::string_view frame) {
    return clients_.Connect(*service_, ns, frame).io->sent.at(0);
  }

  static std::string Expected(std::string_view type, std::string_view path) {
    return "{" + std::string(type) + " [\"" + std::string(path) + "\"]}";
  }

  Active active_;
  std::map<std::string, std::string> tokens_;  // by the test's name
  ha::Replica replica_;

  // The new active.
  ha::ChangeLog log_;
  Metrics metrics_{true};
  std::shared_ptr<LockService> service_ =
      std::make_shared<LockService>(UINT64_MAX, &log_);
  std::shared_ptr<SessionTable> table_ =
      std::make_shared<SessionTable>(100, &metrics_, &log_);
  ConnectionConfig config_{.metrics = &metrics_};
  FakeTimers timers_;
  std::map<std::string, std::shared_ptr<ClientSession>> resumed_;
  PlainClients clients_;
};

TEST_F(AdoptTest, TheInspectorShowsTheReplicasLocksBarTheDroppedWaiters) {
  Adopt();
  const auto L = [](LockId id, LockState state, std::string resource,
                    bool abandoned, bool detached) {
    return Listed{id, state, std::move(resource), abandoned, detached};
  };
  constexpr LockState kAcq = LockState::kAcquired;
  constexpr LockState kEnq = LockState::kEnqueued;
  EXPECT_EQ(Locks("a"), (std::vector<Listed>{
                            L(1, kAcq, Expected("write", "x"), true, false),
                            L(2, kEnq, Expected("write", "x"), false, true),
                            L(5, kEnq, Expected("write", "x"), false, true),
                            L(6, kAcq, Expected("read", "z"), true, false)}));
  EXPECT_EQ(Locks("b"), (std::vector<Listed>{
                            L(2, kAcq, Expected("read", "q"), false, true),
                            L(4, kAcq, Expected("read", "q"), false, true)}));
  EXPECT_EQ(Locks("d"), std::vector<Listed>{});
  // Every window and abandon timeout counts from now, lengthened.
  for (const auto& [ns, id, timeout] :
       std::vector<std::tuple<std::string, LockId, milliseconds>>{
           {"a", 1, kAbandon}, {"a", 2, kWindow}, {"b", 4, kWindow}}) {
    const auto release_in = ReleaseIn(ns, id);
    ASSERT_TRUE(release_in.has_value()) << ns << " " << id;
    EXPECT_LE(*release_in,
              static_cast<std::uint64_t>((timeout + kExtend).count()));
    EXPECT_GT(*release_in,
              static_cast<std::uint64_t>((timeout + kExtend).count() - 500))
        << ns << " " << id;
  }
  EXPECT_EQ(service_->HoldIfOpen("a")->abandoned().load(), 2u);
  EXPECT_EQ(service_->FindStats("a")->last_id, 8u);
  EXPECT_EQ(service_->FindStats("b")->last_id, 4u);
  // The counters balance as on a single server: six sessions detached
  // (none created here), six locks requested, four of them acquired.
  EXPECT_EQ(table_->live(), 6u);
  EXPECT_EQ(metrics_.sessions.created.load(), 0u);
  EXPECT_EQ(metrics_.sessions.detached.load(), 6u);
  EXPECT_EQ(metrics_.sessions.detached_now.load(), 6u);
  EXPECT_EQ(Read(metrics_.locks).requested, 6u);
  EXPECT_EQ(Read(metrics_.locks).acquired, 4u);
  EXPECT_EQ(Read(metrics_.locks).abandoned, 2u);
}

TEST_F(AdoptTest, EachSessionResumesWithItsLocksIdAndState) {
  Adopt();
  const std::vector<std::tuple<std::string, std::string, LockId, ConnState>>
      expected = {{"s1", "a", 2, ConnState::kEnqueued},
                  {"s2", "a", 5, ConnState::kEnqueued},
                  {"s3", "b", 2, ConnState::kAcquired},
                  {"s4", "b", 4, ConnState::kAcquired},
                  {"s5", "d", 0, ConnState::kReady},
                  {"s6", "d", 0, ConnState::kReady}};
  for (const auto& [name, ns, id, state] : expected) {
    auto io = std::make_shared<FakeIo>();
    const std::optional<SessionFrame> frame = Resume(name, ns, io);
    ASSERT_TRUE(frame.has_value()) << name;
    EXPECT_EQ(frame->state, SessionFrame::kResumed) << name;
    EXPECT_EQ(frame->token, tokens_.at(name));
    EXPECT_EQ(frame->window_ms, 5000u) << "the window itself is unchanged";
    EXPECT_EQ(frame->id, id) << name;
    EXPECT_EQ(frame->lock, state) << name;
    EXPECT_EQ(io->grants.size(), state == ConnState::kAcquired ? 1u : 0u);
  }
  EXPECT_EQ(metrics_.sessions.resumed.load(), 6u);
  EXPECT_EQ(metrics_.sessions.detached_now.load(), 0u);
  // A token of another namespace, or with another secret, finds nothing.
  EXPECT_EQ(table_->Find(tokens_.at("s1"), "b", "10.0.0.1"), nullptr);
}

// A plain connection's acquired lock is abandoned: released after its abandon
// timeout plus the extension, and then the session waiting behind it,
// resumed, is told through its own transport (its lock's waiter).
TEST_F(AdoptTest, APlainAcquiredLockIsReleasedAfterItsTimeoutPlusTheExtension) {
  Adopt();
  auto io = std::make_shared<FakeIo>();
  ASSERT_EQ(Resume("s1", "a", io)->lock, ConnState::kEnqueued);
  timers_.Advance(kAbandon + kExtend - milliseconds(1));
  EXPECT_EQ(StateOf("a", 1), LockState::kAcquired);
  EXPECT_EQ(StateOf("a", 6), LockState::kAcquired);
  timers_.Advance(milliseconds(1));
  EXPECT_EQ(StateOf("a", 1), LockState::kNone);
  EXPECT_EQ(StateOf("a", 6), LockState::kNone);
  EXPECT_EQ(service_->HoldIfOpen("a")->abandoned().load(), 0u);
  EXPECT_EQ(StateOf("a", 2), LockState::kAcquired);
  EXPECT_EQ(io->notices, std::vector<LockId>{2});
  resumed_.at("s1")->OnAcquired(io.get(), 2);
  EXPECT_EQ(io->sent.back(), Answer(2, ConnState::kAcquired));
}

TEST_F(AdoptTest, AnOperatorMayForceReleaseAnAdoptedLock) {
  Adopt();
  const std::optional<ForcedRelease> plain = ForceRelease(*service_, "a", 1);
  ASSERT_TRUE(plain.has_value());
  EXPECT_TRUE(plain->abandoned);
  EXPECT_EQ(service_->HoldIfOpen("a")->abandoned().load(), 1u);
  const std::optional<ForcedRelease> session = ForceRelease(*service_, "b", 4);
  ASSERT_TRUE(session.has_value());
  EXPECT_TRUE(session->detached);
  // Its abandon timer finds the lock gone; the session resumes without it.
  timers_.Advance(kAbandon + kExtend);
  EXPECT_EQ(StateOf("a", 2), LockState::kAcquired);
  EXPECT_EQ(Read(metrics_.locks).abandoned, 2u) << "counted once";
  auto io = std::make_shared<FakeIo>();
  const std::optional<SessionFrame> frame = Resume("s4", "b", io);
  ASSERT_TRUE(frame.has_value());
  EXPECT_EQ(frame->lock, ConnState::kReady);
}

// New requests go on above the replica's last ID and queue behind the
// adopted locks; a namespace the replica has no lock in starts above the
// floor.
TEST_F(AdoptTest, NewLocksGetTheNextIdsAndQueueBehindAdoptedOnes) {
  Adopt();
  EXPECT_EQ(NewLock("a", LockFrame("write", "x")),
            Answer(9, ConnState::kEnqueued));
  EXPECT_EQ(Page("a").back().waits_for, (std::vector<LockId>{1, 2, 5}));
  EXPECT_EQ(NewLock("b", LockFrame("write", "q")),
            Answer(5, ConnState::kEnqueued));
  auto io = std::make_shared<FakeIo>();
  ASSERT_TRUE(Resume("s5", "d", io).has_value());
  resumed_.at("s5")->OnFrame(io.get(), LockFrame("write", "v"));
  EXPECT_EQ(io->sent.back(), Answer(101, ConnState::kAcquired));
  EXPECT_EQ(NewLock("e", LockFrame("write", "x")),
            Answer(101, ConnState::kAcquired));
}

// A session not resumed within its window plus the extension expires: its
// lock ends and the next one gets in; once the last lock and holder are
// gone, every adopted namespace is freed.
TEST_F(AdoptTest, SessionsExpireAfterTheirWindowPlusTheExtension) {
  Adopt();
  FakeClient& next =  // 5, behind 2 and 4
      clients_.Connect(*service_, "b", LockFrame("write", "q"));
  timers_.Advance(kWindow + kExtend - milliseconds(1));
  EXPECT_EQ(StateOf("b", 2), LockState::kAcquired);
  EXPECT_EQ(StateOf("b", 5), LockState::kEnqueued);
  EXPECT_EQ(table_->live(), 6u);
  timers_.Advance(milliseconds(1));
  EXPECT_EQ(table_->live(), 0u);
  EXPECT_EQ(metrics_.sessions.expired.load(), 6u);
  EXPECT_EQ(metrics_.sessions.detached_now.load(), 0u);
  EXPECT_EQ(StateOf("b", 2), LockState::kNone);
  EXPECT_EQ(StateOf("b", 5), LockState::kAcquired);
  EXPECT_EQ(next.io->notices, std::vector<LockId>{5});
  EXPECT_EQ(timers_.pending(), 0u);
  EXPECT_EQ(service_->FindStats("a"), std::nullopt) << "freed";
  EXPECT_EQ(service_->FindStats("d"), std::nullopt) << "freed";
  EXPECT_TRUE(service_->FindStats("b").has_value()) << "held by `next`";
  next.conn->OnFrame(testing::kRelease);
  next.conn->OnClosed();
  EXPECT_EQ(service_->open(), 0u);
  EXPECT_EQ(service_->LiveLocks(), 0u);
  // A freed namespace opened again goes on above its last ID.
  EXPECT_EQ(NewLock("a", LockFrame("write", "x")),
            Answer(101, ConnState::kAcquired));
}

// The new active's log starts its epoch with what it serves: a replica of
// it, from its snapshot or change by change, holds exactly the adopted
// state.
TEST_F(AdoptTest, TheLogHoldsTheAdoptedStateForTheNextStandby) {
  Adopt();
  std::vector<ha::Replica::Space> expected = replica_.Spaces();
  auto& a = expected.at(0).locks;
  ASSERT_EQ(expected.at(0).name, "a");
  std::erase_if(a, [](const ha::Replica::Lock& lock) {
    return lock.id == 3 || lock.id == 7;
  });
  auto& b = expected.at(1).locks;
  ASSERT_EQ(expected.at(1).name, "b");
  std::erase_if(b, [](const ha::Replica::Lock& lock) { return lock.id == 3; });
  b.back().state = LockState::kAcquired;

  ha::Replica from_snapshot;
  ASSERT_TRUE(from_snapshot.Load(log_.Snapshot()).ok());
  EXPECT_EQ(from_snapshot.Spaces(), expected);
  EXPECT_EQ(from_snapshot.sessions(), replica_.sessions());
  ha::Replica from_changes;
  Follow(from_changes, log_);
  EXPECT_EQ(from_changes.Spaces(), expected);
  EXPECT_EQ(from_changes.sessions(), replica_.sessions());
  // And it goes on: the sessions' expiry and the locks' ends are logged.
  timers_.Advance(kWindow + kExtend);
  ASSERT_TRUE(from_snapshot.Load(log_.Snapshot()).ok());
  EXPECT_TRUE(from_snapshot.Spaces().empty());
  EXPECT_TRUE(from_snapshot.sessions().empty());
}

TEST_F(AdoptTest, AReplicaThatCannotBeAdoptedChangesNothing) {
  const NamespaceHold open = service_->Open("b");
  const Status status = AdoptReplica(replica_, kExtend, *service_, *table_,
                                     config_, timers_.Fn());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("[b] is open already"),
            std::string::npos)
      << status.error().message;
  EXPECT_EQ(service_->open(), 1u);
  EXPECT_EQ(table_->live(), 0u);
  EXPECT_EQ(log_.last(), 0u);

  // A diverged replica: the active says 2 was acquired at once.
  const auto acquired_at_once = [](LockId id) {
    return ha::LockRequested{.ns = "n",
                             .id = id,
                             .resources = {{Access::kWrite, {"x"}}},
                             .acquired = true};
  };
  ha::Replica diverged;
  ASSERT_EQ(diverged.Apply(1, acquired_at_once(1)),
            ha::Replica::Outcome::kApplied);
  ASSERT_EQ(diverged.Apply(2, acquired_at_once(2)),
            ha::Replica::Outcome::kDiverged);
  EXPECT_FALSE(
      AdoptReplica(diverged, kExtend, *service_, *table_, config_, timers_.Fn())
          .ok());
  EXPECT_EQ(service_->FindStats("n"), std::nullopt);
}

}  // namespace
}  // namespace locktopus::server
