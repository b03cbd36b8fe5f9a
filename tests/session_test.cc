// Resumable sessions (server/core/session.h) over fake transports: what a
// detached session keeps, what a resume is told, who may speak for a
// session, when it ends, and the token and its table.

#include "server/core/session.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

#include "server/core/force_release.h"
#include "tests/fake_io.h"
#include "wire/codec.h"

namespace locktopus::server {
namespace {

using std::chrono::milliseconds;
using testing::FakeClient;
using testing::FakeIo;
using testing::kLockA;
using testing::kRelease;
using wire::ConnState;
using wire::SessionFrame;

constexpr std::string_view kEnqueued2 =
    R"({"id":"2","action":"lock","state":"enqueued"})";
constexpr std::string_view kAcquired1 =
    R"({"id":"1","action":"lock","state":"acquired"})";
constexpr std::string_view kAcquired2 =
    R"({"id":"2","action":"lock","state":"acquired"})";

class SessionTest : public ::testing::Test {
 protected:
  SessionTest() { config_.abandon_timeout = milliseconds(5000); }

  // A new session over a new transport; its `new` frame is checked and
  // consumed.
  std::shared_ptr<ClientSession> Open(const std::shared_ptr<FakeIo>& io) {
    auto session = table_->Create(service_->Open("ns"), config_);
    EXPECT_NE(session, nullptr);
    EXPECT_TRUE(session->Attach(io, holder_));
    const auto frame = Frame(*io, 0);
    EXPECT_EQ(frame.state, SessionFrame::kNew);
    EXPECT_EQ(frame.token, session->token().Text());
    EXPECT_EQ(frame.window_ms, 5000u);
    io->sent.clear();
    return session;
  }

  // `io` takes `session` over; returns its `resumed` frame.
  SessionFrame Resume(const std::shared_ptr<ClientSession>& session,
                      const std::shared_ptr<FakeIo>& io) {
    auto found = table_->Find(session->token().Text(), "ns", "10.0.0.1");
    EXPECT_EQ(found, session);
    EXPECT_TRUE(found->Attach(io, holder_));
    SessionFrame frame = Frame(*io, 0);
    EXPECT_EQ(frame.state, SessionFrame::kResumed);
    return frame;
  }

  LockState StateOf(LockId id) const {
    const NamespaceHold hold = service_->HoldIfOpen("ns");
    return hold ? hold->State(id) : LockState::kNone;
  }

  static SessionFrame Frame(const FakeIo& io, std::size_t i) {
    EXPECT_GT(io.sent.size(), i);
    if (io.sent.size() <= i) return {};
    const auto frame = wire::ParseSessionFrame(io.sent[i]);
    EXPECT_TRUE(frame.has_value()) << io.sent[i];
    return frame.value_or(SessionFrame{});
  }

  // Delivers the notices `io` was told of to `session`, as the transport's
  // strand does.
  static void Deliver(FakeIo& io, ClientSession& session) {
    for (LockId id : std::exchange(io.notices, {})) session.OnAcquired(&io, id);
    for (LockId id : std::exchange(io.force_released, {})) {
      session.OnForceReleased(&io, id);
    }
  }

  // Fires the timers `io` was asked for, returning their delays.
  static std::vector<milliseconds> Fire(FakeIo& io) {
    std::vector<milliseconds> delays;
    for (auto& [delay, fn] : std::exchange(io.timers, {})) {
      delays.push_back(delay);
      fn();
    }
    return delays;
  }

  Metrics metrics_{true};
  std::shared_ptr<LockService> service_ = std::make_shared<LockService>();
  std::shared_ptr<SessionTable> table_ =
      std::make_shared<SessionTable>(100, &metrics_);
  ConnectionConfig config_{.metrics = &metrics_};
  std::shared_ptr<const HolderInfo> holder_ =
      std::make_shared<HolderInfo>(HolderInfo{.connection = 7});
};

TEST_F(SessionTest, ADetachedHolderKeepsItsLockUntilItsWindowPasses) {
  auto io = std::make_shared<FakeIo>();
  auto session = Open(io);
  session->OnFrame(io.get(), kLockA);
  EXPECT_EQ(io->sent.at(0), kAcquired1);
  session->OnClosed(io.get());
  ASSERT_EQ(io->timers.size(), 1u);
  EXPECT_EQ(io->timers[0].first, milliseconds(5000));
  EXPECT_EQ(service_->FindStats("ns")->locks_acquired, 1u);
  EXPECT_EQ(Read(metrics_.locks).abandoned, 0u);
  EXPECT_EQ(metrics_.sessions.detached_now.load(), 1u);

  Fire(*io);
  EXPECT_EQ(service_->FindStats("ns"), std::nullopt) << "released and freed";
  EXPECT_EQ(metrics_.sessions.expired.load(), 1u);
  EXPECT_EQ(metrics_.sessions.detached_now.load(), 0u);
  EXPECT_EQ(table_->live(), 0u);
  EXPECT_EQ(table_->Find(session->token().Text(), "ns", "a"), nullptr);
}

TEST_F(SessionTest, AResumeIsToldTheLockAndItsIdAndGoesOnFromThere) {
  auto io = std::make_shared<FakeIo>();
  auto session = Open(io);
  session->OnFrame(io.get(), kLockA);
  session->OnClosed(io.get());

  auto next = std::make_shared<FakeIo>();
  const SessionFrame frame = Resume(session, next);
  EXPECT_EQ(frame.lock, ConnState::kAcquired);
  EXPECT_EQ(frame.id, 1u);
  EXPECT_EQ(next->grants, std::vector<std::size_t>{0})
      << "a resumed acquired lock is announced through the gate";
  EXPECT_EQ(metrics_.sessions.resumed.load(), 1u);
  EXPECT_EQ(metrics_.sessions.detached_now.load(), 0u);

  // The old detachment's timer no longer ends anything.
  Fire(*io);
  EXPECT_EQ(service_->FindStats("ns")->locks_acquired, 1u);
  session->OnFrame(next.get(), kRelease);
  EXPECT_EQ(next->sent.back(),
            R"({"id":"1","action":"release","state":"ready"})");
}

TEST_F(SessionTest, ADetachedWaiterKeepsItsPlaceAndIsToldOfItsAcquisition) {
  FakeClient holder(service_->Open("ns"), config_);
  holder.conn->OnFrame(kLockA);
  auto io = std::make_shared<FakeIo>();
  auto session = Open(io);
  session->OnFrame(io.get(), kLockA);
  EXPECT_EQ(io->sent.at(0), kEnqueued2);
  session->OnClosed(io.get());
  EXPECT_EQ(StateOf(2), LockState::kEnqueued) << "its place is kept";

  FakeClient late(service_->Open("ns"), config_);
  late.conn->OnFrame(kLockA);  // 3, behind the detached 2
  holder.conn->OnFrame(kRelease);
  EXPECT_EQ(StateOf(2), LockState::kAcquired);
  EXPECT_EQ(StateOf(3), LockState::kEnqueued);
  Deliver(*io, *session);  // nothing reaches a detached session's transport
  EXPECT_TRUE(io->notices.empty());

  auto next = std::make_shared<FakeIo>();
  const SessionFrame frame = Resume(session, next);
  EXPECT_EQ(frame.lock, ConnState::kAcquired) << "announced by the resume";
  EXPECT_EQ(frame.id, 2u);
  EXPECT_EQ(Read(metrics_.locks).acquired, 2u);
  // A notice that crossed the resume is not announced twice.
  session->OnAcquired(next.get(), 2);
  EXPECT_EQ(next->sent.size(), 1u);
}

TEST_F(SessionTest, AnEnqueuedLockOfAnExpiredSessionIsCancelled) {
  FakeClient holder(service_->Open("ns"), config_);
  holder.conn->OnFrame(kLockA);
  auto io = std::make_shared<FakeIo>();
  auto session = Open(io);
  session->OnFrame(io.get(), kLockA);
  session->OnClosed(io.get());
  Fire(*io);
  EXPECT_EQ(StateOf(2), LockState::kNone);
  EXPECT_EQ(Read(metrics_.locks).cancelled, 1u);
}

TEST_F(SessionTest, ATakeoverClosesTheOldTransportFirstAndIgnoresIt) {
  auto old = std::make_shared<FakeIo>();
  auto session = Open(old);
  session->OnFrame(old.get(), kLockA);
  auto next = std::make_shared<FakeIo>();
  Resume(session, next);
  EXPECT_EQ(old->moved_with, kSessionMovedCloseCode);
  EXPECT_EQ(old->moved_reason, kSessionMovedReason);
  const std::size_t old_sent = old->sent.size();

  // The old transport's frames and end are ignored; a notice posted to it
  // is passed on to the new one.
  session->OnFrame(old.get(), kRelease);
  EXPECT_EQ(StateOf(1), LockState::kAcquired);
  session->OnClosed(old.get());
  EXPECT_TRUE(old->timers.empty()) << "no detachment";
  EXPECT_EQ(metrics_.sessions.detached.load(), 0u);
  session->OnAcquired(old.get(), 1);
  EXPECT_EQ(next->notices, std::vector<LockId>{1});
  EXPECT_EQ(old->sent.size(), old_sent) << "the old transport hears nothing";
}

TEST_F(SessionTest, AWrongSecretAnotherNamespaceOrAnyChangedByteFindsNothing) {
  auto io = std::make_shared<FakeIo>();
  auto session = Open(io);
  const std::string token = session->token().Text();
  EXPECT_EQ(table_->Find(token, "other", "p"), nullptr);
  std::set<std::string> tried;
  for (std::size_t i = 0; i < token.size(); ++i) {
    for (char c : std::string("0aA-_.9f")) {
      std::string bad = token;
      bad[i] = c;
      if (bad == token || !tried.insert(bad).second) continue;
      EXPECT_EQ(table_->Find(bad, "ns", "p"), nullptr) << bad;
    }
  }
  EXPECT_EQ(table_->Find(token.substr(1), "ns", "p"), nullptr);
  EXPECT_EQ(table_->Find(token + "A", "ns", "p"), nullptr);
  EXPECT_EQ(table_->Find("", "ns", "p"), nullptr);
  EXPECT_EQ(table_->Find(token, "ns", "p"), session);
  EXPECT_EQ(
      metrics_.sessions.failures[static_cast<int>(ResumeFailure::kNotFound)],
      tried.size() + 4);
}

TEST_F(SessionTest, APeerThatFailsOftenIsLimitedAndOthersAreNot) {
  for (int i = 0; i < SessionTable::kFailureBurst; ++i) {
    EXPECT_FALSE(table_->Limited("10.0.0.9"));
    table_->Find("nothing", "ns", "10.0.0.9");
  }
  milliseconds retry{0};
  EXPECT_TRUE(table_->Limited("10.0.0.9", &retry));
  EXPECT_GT(retry, milliseconds(0));
  EXPECT_LE(retry, SessionTable::kFailureRefill);
  EXPECT_FALSE(table_->Limited("10.0.0.8"));
  EXPECT_EQ(
      metrics_.sessions.failures[static_cast<int>(ResumeFailure::kRateLimited)]
          .load(),
      1u);
}

TEST_F(SessionTest, AForceReleaseWhileDetachedLeavesTheSessionWithNoLock) {
  auto io = std::make_shared<FakeIo>();
  auto session = Open(io);
  session->OnFrame(io.get(), kLockA);
  session->OnClosed(io.get());
  ASSERT_TRUE(ForceRelease(*service_, "ns", 1).has_value());
  auto next = std::make_shared<FakeIo>();
  const SessionFrame frame = Resume(session, next);
  EXPECT_EQ(frame.lock, ConnState::kReady);
  EXPECT_EQ(next->sent.at(0).find("\"id\""), std::string::npos);
  session->OnFrame(next.get(), kLockA);
  EXPECT_EQ(next->sent.back(), kAcquired2);
}

TEST_F(SessionTest,
       AForceReleaseWhileAttachedClosesWith4000AndKeepsTheSession) {
  auto io = std::make_shared<FakeIo>();
  auto session = Open(io);
  session->OnFrame(io.get(), kLockA);
  ASSERT_TRUE(ForceRelease(*service_, "ns", 1).has_value());
  Deliver(*io, *session);
  EXPECT_EQ(io->closed_with, kForceReleasedCloseCode);
  session->OnClosed(io.get());
  EXPECT_EQ(table_->live(), 1u);
  auto next = std::make_shared<FakeIo>();
  EXPECT_EQ(Resume(session, next).lock, ConnState::kReady);
}

TEST_F(SessionTest, AResumeAfterAForceReleaseWhoseNoticeIsOnItsWaySaysNone) {
  auto old = std::make_shared<FakeIo>();
  auto session = Open(old);
  session->OnFrame(old.get(), kLockA);
  ASSERT_TRUE(ForceRelease(*service_, "ns", 1).has_value());
  ASSERT_EQ(old->force_released, std::vector<LockId>{1});  // not delivered
  auto next = std::make_shared<FakeIo>();
  EXPECT_EQ(Resume(session, next).lock, ConnState::kReady);
  Deliver(*old, *session);  // the notice arrives late, on the old strand
  Deliver(*next, *session);
  EXPECT_EQ(next->sent.size(), 1u) << "nothing but the resumed frame";
  EXPECT_EQ(next->closed_with, 0);
  session->OnFrame(next.get(), kLockA);
  EXPECT_EQ(next->sent.back(), kAcquired2);
}

TEST_F(SessionTest, AProtocolErrorEndsTheTransportNotTheSession) {
  auto io = std::make_shared<FakeIo>();
  auto session = Open(io);
  session->OnFrame(io.get(), kLockA);
  session->OnFrame(io.get(), "{");
  EXPECT_EQ(io->closed_with, kProtocolErrorCloseCode);
  EXPECT_EQ(StateOf(1), LockState::kAcquired);
  session->OnFrame(io.get(), kRelease);  // read no more
  EXPECT_EQ(StateOf(1), LockState::kAcquired);
  session->OnClosed(io.get());
  auto next = std::make_shared<FakeIo>();
  EXPECT_EQ(Resume(session, next).lock, ConnState::kAcquired);
}

TEST_F(SessionTest, TheTableHoldsAtMostItsLimit) {
  auto table = std::make_shared<SessionTable>(2, nullptr);
  auto a = table->Create(service_->Open("ns"), config_);
  auto b = table->Create(service_->Open("ns"), config_);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(b, nullptr);
  EXPECT_EQ(table->Create(service_->Open("ns"), config_), nullptr);
  table->Remove(a->token().id);
  EXPECT_NE(table->Create(service_->Open("ns"), config_), nullptr);
}

TEST(SessionTokenTest, IsUrlSafeRandomAndParsesBack) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const SessionToken token = NewSessionToken();
    const std::string text = token.Text();
    EXPECT_EQ(text.size(), 16u + 1 + 43);
    EXPECT_EQ(text.find_first_not_of("0123456789abcdef"), 16u);
    EXPECT_EQ(text.find_first_not_of(
                  "0123456789abcdefABCDEFGHIJKLMNOPQRSTUVWXYZghijklmnopqrstuvw"
                  "xyz-_.",
                  0),
              std::string::npos);
    const auto parsed = ParseSessionToken(text);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->id, token.id);
    EXPECT_EQ(parsed->secret, token.secret);
    EXPECT_TRUE(seen.insert(token.secret).second);
  }
  EXPECT_FALSE(ParseSessionToken("new").has_value());
  EXPECT_FALSE(
      ParseSessionToken(std::string(16, 'g') + "." + std::string(43, 'A'))
          .has_value());
  EXPECT_FALSE(
      ParseSessionToken(std::string(16, '0') + "." + std::string(42, 'A') + "=")
          .has_value());
}

TEST(SessionFrameTest, FormatsAndParsesBothKinds) {
  const SessionFrame fresh{.token = "t", .window_ms = 60000};
  EXPECT_EQ(wire::FormatSessionFrame(fresh),
            R"({"action":"session","state":"new","session":"t",)"
            R"("abandon-timeout-ms":60000})");
  EXPECT_EQ(wire::ParseSessionFrame(wire::FormatSessionFrame(fresh)), fresh);
  const SessionFrame back{.state = SessionFrame::kResumed,
                          .token = "t",
                          .window_ms = 5,
                          .id = 17,
                          .lock = ConnState::kAcquired};
  EXPECT_EQ(wire::FormatSessionFrame(back),
            R"({"action":"session","state":"resumed","session":"t",)"
            R"("abandon-timeout-ms":5,"id":"17","lock":"acquired"})");
  EXPECT_EQ(wire::ParseSessionFrame(wire::FormatSessionFrame(back)), back);
  const SessionFrame none{
      .state = SessionFrame::kResumed, .token = "t", .window_ms = 5};
  EXPECT_EQ(wire::FormatSessionFrame(none),
            R"({"action":"session","state":"resumed","session":"t",)"
            R"("abandon-timeout-ms":5,"lock":"none"})");
  EXPECT_EQ(wire::ParseSessionFrame(wire::FormatSessionFrame(none)), none);
  EXPECT_FALSE(wire::ParseSessionFrame(kAcquired1).has_value());
}

}  // namespace
}  // namespace locktopus::server
