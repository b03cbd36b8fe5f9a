// The replication stream's messages and the standby's side of it
// (server/core/ha/stream.h), fed by a real ChangeLog.

#include "server/core/ha/stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace locktopus::server::ha {
namespace {

Change Requested(std::string ns, LockId id, std::string path,
                 std::optional<bool> acquired = true) {
  return LockRequested{
      .ns = std::move(ns),
      .id = id,
      .resources = {{.access = Access::kWrite, .path = {std::move(path)}}},
      .owner = {.timeout_ms = 1000},
      .acquired = acquired};
}

// Every message of `messages` to `follower`; the last answer.
Follower::Answer Feed(Follower& follower,
                      const std::vector<std::string>& messages) {
  Follower::Answer answer;
  for (const std::string& m : messages) {
    answer = follower.OnMessage(m);
    if (!answer.error.empty()) break;
  }
  return answer;
}

class StreamTest : public ::testing::Test {
 protected:
  // Appends to the active's log; returns the position.
  Position Log(Change change) { return log_.Append(std::move(change)); }
  std::vector<std::string> ChangesFrom(Position from) {
    const auto changes = log_.From(from);
    EXPECT_TRUE(changes.has_value());
    return FormatChanges(7, from, *changes);
  }

  ChangeLog log_;
  Follower follower_;
};

TEST_F(StreamTest, ASnapshotThenChangesThenACatchUpAfterAReconnect) {
  Log(Requested("n", 1, "a"));
  Log(Requested("n", 2, "a", false));
  ASSERT_EQ(follower_.Begin(7), 0u);  // nothing yet: a snapshot
  Follower::Answer answer = Feed(follower_, FormatSnapshot(7, log_.Snapshot()));
  ASSERT_EQ(answer.error, "");
  EXPECT_EQ(answer.ack, 2u);
  EXPECT_TRUE(follower_.Whole(7));
  const Position p3 = Log(LockEnded{.ns = "n", .id = 1});
  answer = Feed(follower_, ChangesFrom(p3));
  ASSERT_EQ(answer.error, "");
  EXPECT_EQ(answer.ack, 3u);
  // The stream drops; the same epoch picks up where it stopped.
  const Position p4 = Log(Requested("n", 3, "b"));
  ASSERT_EQ(follower_.Begin(7), 4u);
  answer = Feed(follower_, ChangesFrom(p4));
  EXPECT_EQ(answer.ack, 4u);
  // A duplicate is acknowledged again and changes nothing.
  answer = Feed(follower_, ChangesFrom(p3));
  EXPECT_EQ(answer.error, "");
  EXPECT_EQ(answer.ack, 4u);
  const Replica replica = follower_.Take();
  ASSERT_EQ(replica.Spaces().size(), 1u);
  EXPECT_EQ(replica.Spaces()[0].locks.size(), 2u);  // 2 (now held) and 3
  EXPECT_EQ(replica.Spaces()[0].locks[0].state, LockState::kAcquired);
}

// A new epoch always starts from a snapshot: the old one's replica is not
// that active's state.
TEST_F(StreamTest, ANewEpochNeedsASnapshot) {
  Log(Requested("n", 1, "a"));
  ASSERT_EQ(follower_.Begin(7), 0u);
  Feed(follower_, FormatSnapshot(7, log_.Snapshot()));
  EXPECT_TRUE(follower_.Whole(7));
  EXPECT_EQ(follower_.Begin(9), 0u);
  EXPECT_FALSE(follower_.Whole(7));
  EXPECT_FALSE(follower_.Whole(9));
  // And messages of another epoch are refused.
  EXPECT_NE(Feed(follower_, FormatSnapshot(7, log_.Snapshot())).error, "");
}

TEST_F(StreamTest, AGapOrADivergenceClosesTheStream) {
  ASSERT_EQ(follower_.Begin(7), 0u);
  Feed(follower_, FormatSnapshot(7, log_.Snapshot()));
  Log(Requested("n", 1, "a"));
  const Position p2 = Log(Requested("n", 2, "b"));
  Follower::Answer answer = Feed(follower_, ChangesFrom(p2));
  EXPECT_EQ(answer.error, "position 2 after 0");
  EXPECT_FALSE(answer.ack);
  EXPECT_EQ(follower_.Begin(7), 1u);  // catch up from the gap
  // The active says 3 was acquired at once; the replica's engine enqueues
  // it behind 1: not in sync any more, and a snapshot is needed.
  Feed(follower_, ChangesFrom(1));
  const Position p3 = Log(Requested("n", 3, "a", true));
  answer = Feed(follower_, ChangesFrom(p3));
  EXPECT_NE(answer.error.find("diverged"), std::string::npos) << answer.error;
  EXPECT_FALSE(follower_.Whole(7));
  EXPECT_EQ(follower_.Begin(7), 0u);
}

TEST_F(StreamTest, ASnapshotInPartsIsWholeOnlyAtItsLastPart) {
  const std::string big(kPartBytes / 3, 'x');
  for (LockId id = 1; id <= 7; ++id) {
    Log(Requested("n", id, big + std::to_string(id)));
  }
  const std::vector<std::string> parts = FormatSnapshot(7, log_.Snapshot());
  ASSERT_GE(parts.size(), 3u);
  ASSERT_EQ(follower_.Begin(7), 0u);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const Follower::Answer answer = follower_.OnMessage(parts[i]);
    EXPECT_EQ(answer.error, "");
    EXPECT_FALSE(answer.ack) << i;
    EXPECT_FALSE(follower_.Whole(7));
  }
  EXPECT_EQ(follower_.OnMessage(parts.back()).ack, 7u);
  EXPECT_TRUE(follower_.Whole(7));
}

// Elected: nothing is applied or acknowledged from then on, and no new
// stream begins; the replica is what it was.
TEST_F(StreamTest, AFrozenFollowerAcknowledgesNothing) {
  ASSERT_EQ(follower_.Begin(7), 0u);
  Feed(follower_, FormatSnapshot(7, log_.Snapshot()));
  const Position p1 = Log(Requested("n", 1, "a"));
  follower_.Freeze();
  const Follower::Answer answer = Feed(follower_, ChangesFrom(p1));
  EXPECT_FALSE(answer.ack);
  EXPECT_NE(answer.error, "");
  EXPECT_EQ(follower_.Begin(7), std::nullopt);
  EXPECT_EQ(follower_.applied(), 0u);
  EXPECT_TRUE(follower_.Whole(7));
}

TEST(StreamMessages, AcksRoundTripAndNothingElseParses) {
  EXPECT_EQ(ParseAck(FormatAck(42)), 42u);
  for (const char* bad : {"", "{}", R"({"ack":-1})", R"({"ack":"1"})",
                          R"({"ack":1,"x":2})", "[1]", R"({"ack":1.5})"}) {
    EXPECT_EQ(ParseAck(bad), std::nullopt) << bad;
  }
}

TEST(StreamMessages, MalformedMessagesAreRefused) {
  Follower follower;
  ASSERT_EQ(follower.Begin(7), 0u);
  for (const char* bad : {"", "x", R"({"epoch":"7"})", "{\"epoch\":7}\nnope",
                          R"({"epoch":7,"snapshot":1})",
                          "{\"epoch\":7,\"snapshot\":1,\"last\":true}\n"
                          "{\"pos\":3,\"change\":\"end\",\"ns\":\"n\","
                          "\"id\":1}"}) {
    EXPECT_NE(follower.OnMessage(bad).error, "") << bad;
  }
}

}  // namespace
}  // namespace locktopus::server::ha
