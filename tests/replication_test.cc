// Replication of lock state (server/core/ha/replication.h and its codec):
// the log's positions, trims and snapshots; the replica's order,
// duplicates, gaps and divergences; the lock service's and the sessions'
// appends with their owners; and threads locking in shared and separate
// namespaces whose log a replica follows to the same state.

#include "server/core/ha/replication.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/core/force_release.h"
#include "server/core/ha/change_codec.h"
#include "server/core/lock_service.h"
#include "server/core/session.h"
#include "tests/fake_io.h"
#include "tests/replication_support.h"
#include "tests/test_support.h"

namespace locktopus::server::ha {

void PrintTo(const Change& change, std::ostream* os) { *os << change; }

namespace {

using locktopus::testing::R;
using locktopus::testing::W;
using Outcome = Replica::Outcome;

Change Request(std::string ns, LockId id, std::vector<Resource> resources,
               std::optional<bool> acquired, Owner owner = {}) {
  return LockRequested{.ns = std::move(ns),
                       .id = id,
                       .resources = std::move(resources),
                       .owner = owner,
                       .acquired = acquired};
}

Change End(std::string ns, LockId id) {
  return LockEnded{.ns = std::move(ns), .id = id};
}

// ---- ChangeLog
// ---------------------------------------------------------------

TEST(ChangeLog, PositionsCountFromOneAcrossNamespaces) {
  ChangeLog log;
  EXPECT_EQ(log.last(), 0u);
  EXPECT_EQ(log.first(), 1u);
  EXPECT_EQ(log.Append(Request("a", 1, {W({"x"})}, true)), 1u);
  EXPECT_EQ(log.Append(Request("b", 1, {W({"x"})}, true)), 2u);
  EXPECT_EQ(log.Append(End("a", 1)), 3u);
  EXPECT_EQ(log.last(), 3u);
  EXPECT_EQ(log.From(1),
            (std::vector{Request("a", 1, {W({"x"})}, true),
                         Request("b", 1, {W({"x"})}, true), End("a", 1)}));
  EXPECT_EQ(log.From(2, 1), (std::vector{Request("b", 1, {W({"x"})}, true)}));
  EXPECT_EQ(log.From(4), std::vector<Change>{});  // nothing new yet
  EXPECT_EQ(log.From(5), std::nullopt);           // not this log's
}

TEST(ChangeLog, TrimForgetsWhatEveryFollowerHas) {
  ChangeLog log;
  for (LockId id = 1; id <= 4; ++id) log.Append(Request("a", id, {}, true));
  log.Trim(2);
  EXPECT_EQ(log.first(), 3u);
  EXPECT_EQ(log.From(2), std::nullopt);  // a follower this far back: snapshot
  EXPECT_EQ(log.From(3)->size(), 2u);
  log.Trim(1);  // never back
  EXPECT_EQ(log.first(), 3u);
  log.Trim(100);  // past the last: all of it, no further
  EXPECT_EQ(log.first(), 5u);
  EXPECT_EQ(log.last(), 4u);
  EXPECT_EQ(log.From(5), std::vector<Change>{});
  EXPECT_EQ(log.Append(End("a", 4)), 5u);
  EXPECT_EQ(log.From(5), (std::vector{End("a", 4)}));
}

// A snapshot is the state at the last position, whatever was trimmed:
// sessions first, then each namespace's live locks in ID order with their
// owners, the gaps between their IDs and after the last skipped.
TEST(ChangeLog, SnapshotRebuildsTheStateAtTheLastPosition) {
  ChangeLog log;
  EXPECT_EQ(log.Snapshot(), Snapshot{});
  const Owner session{.session = 7, .timeout_ms = 500};
  const Owner plain{.timeout_ms = 60000};
  log.Append(
      SessionOpened{.id = 7, .secret = "s", .ns = "b", .window_ms = 500});
  log.Append(SessionOpened{.id = 8, .secret = "t", .ns = "b", .window_ms = 9});
  for (LockId id = 1; id <= 5; ++id) {
    log.Append(
        Request("b", id, {W({"x"})}, id == 1, id == 3 ? session : plain));
  }
  log.Append(Request("a", 4, {R({})}, true, plain));  // opened above a floor
  log.Append(End("b", 2));
  log.Append(End("b", 5));
  log.Append(SessionEnded{.id = 8});
  log.Trim(6);
  const Snapshot snapshot = log.Snapshot();
  EXPECT_EQ(snapshot.position, 11u);
  EXPECT_EQ(
      snapshot.changes,
      (std::vector<Change>{
          SessionOpened{.id = 7, .secret = "s", .ns = "b", .window_ms = 500},
          Request("a", 4, {R({})}, std::nullopt, plain),
          Request("b", 1, {W({"x"})}, std::nullopt, plain),
          IdsSkipped{.ns = "b", .last_id = 2},
          Request("b", 3, {W({"x"})}, std::nullopt, session),
          Request("b", 4, {W({"x"})}, std::nullopt, plain),
          IdsSkipped{.ns = "b", .last_id = 5},
      }));
}

// ---- Replica
// -----------------------------------------------------------------

TEST(Replica, AppliesInOrderIgnoresDuplicatesAndRefusesGaps) {
  Replica replica;
  EXPECT_EQ(replica.Apply(1, Request("a", 1, {W({"x"})}, true)),
            Outcome::kApplied);
  EXPECT_EQ(replica.Apply(1, Request("a", 1, {W({"x"})}, true)),
            Outcome::kDuplicate);
  EXPECT_EQ(replica.Apply(3, End("a", 1)), Outcome::kGap);
  EXPECT_EQ(replica.Applied(), 1u);
  EXPECT_EQ(replica.Apply(2, Request("a", 2, {W({"x"})}, false)),
            Outcome::kApplied);
  EXPECT_EQ(replica.Apply(3, End("a", 1)), Outcome::kApplied);
  EXPECT_EQ(replica.Apply(2, Request("a", 2, {W({"x"})}, false)),
            Outcome::kDuplicate);
  EXPECT_EQ(replica.Applied(), 3u);
  EXPECT_EQ(replica.divergence(), "");
  EXPECT_EQ(replica.Spaces(),
            (std::vector<Replica::Space>{
                {.name = "a",
                 .last_id = 2,
                 .locks = {{.id = 2,
                            .resources = {W({"x"})},
                            .state = LockState::kAcquired}}}}));
}

TEST(Replica, AnIdOtherThanTheEnginesIsADivergenceUntilTheNextLoad) {
  Replica replica;
  ASSERT_EQ(replica.Apply(1, Request("a", 1, {W({"x"})}, true)),
            Outcome::kApplied);
  EXPECT_EQ(replica.Apply(2, Request("a", 3, {W({"x"})}, false)),
            Outcome::kDiverged);
  EXPECT_NE(replica.divergence().find("expected ID 2"), std::string::npos)
      << replica.divergence();
  EXPECT_EQ(replica.Applied(), 1u);
  // Sticky: nothing more is applied.
  EXPECT_EQ(replica.Apply(2, Request("a", 2, {W({"x"})}, false)),
            Outcome::kDiverged);
  ASSERT_TRUE(replica.Load({.position = 9, .changes = {}}).ok());
  EXPECT_EQ(replica.divergence(), "");
  EXPECT_EQ(replica.Applied(), 9u);
  EXPECT_EQ(replica.Spaces(), std::vector<Replica::Space>{});
  EXPECT_EQ(replica.Apply(10, Request("a", 5, {}, true)), Outcome::kApplied);
}

TEST(Replica, AnAcquiredFlagOtherThanTheEnginesIsADivergence) {
  Replica replica;
  ASSERT_EQ(replica.Apply(1, Request("a", 1, {W({"x"})}, true)),
            Outcome::kApplied);
  EXPECT_EQ(replica.Apply(2, Request("a", 2, {R({"x", "y"})}, true)),
            Outcome::kDiverged);
  EXPECT_NE(replica.divergence().find("enqueued"), std::string::npos)
      << replica.divergence();
}

TEST(Replica, ChangesThatContradictItsStateAreDivergences) {
  const std::vector<std::vector<Change>> histories = {
      {End("a", 1)},                                // no lock
      {Request("a", 1, {}, true), End("a", 2)},     // not live
      {Request("a", 1, {}, true, {.session = 5})},  // no session
      {SessionOpened{.id = 5, .ns = "b"},           // another ns's
       Request("a", 1, {}, true, {.session = 5})},
      {SessionOpened{.id = 5, .ns = "a"}, SessionOpened{.id = 5, .ns = "a"}},
      {SessionEnded{.id = 5}},
      {Request("a", 0, {}, true)},
  };
  for (const auto& history : histories) {
    Replica replica;
    Outcome last = Outcome::kApplied;
    Position position = 0;
    for (const Change& change : history) {
      last = replica.Apply(++position, change);
    }
    EXPECT_EQ(last, Outcome::kDiverged) << ::testing::PrintToString(history);
    EXPECT_NE(replica.divergence(), "");
  }
}

// A namespace whose last lock ended is freed; the active opens it again
// above its old IDs (its ID marks, or the group's floor), and so does the
// replica, at the ID the request names.
TEST(Replica, ANamespaceOpensAgainAboveItsOldIds) {
  Replica replica;
  ASSERT_EQ(replica.Apply(1, Request("a", 1, {W({"x"})}, true)),
            Outcome::kApplied);
  ASSERT_EQ(replica.Apply(2, End("a", 1)), Outcome::kApplied);
  EXPECT_EQ(replica.Spaces(), std::vector<Replica::Space>{});
  ASSERT_EQ(replica.Apply(3, Request("a", 40, {W({"x"})}, true)),
            Outcome::kApplied);
  ASSERT_EQ(replica.Apply(4, Request("a", 41, {W({"x"})}, false)),
            Outcome::kApplied);
  ASSERT_EQ(replica.Spaces().size(), 1u);
  EXPECT_EQ(replica.Spaces()[0].last_id, 41u);
}

// A snapshot whose live IDs are apart (locks ended between them, and after
// the last) rebuilds the namespace with SkipTo, and the log goes on from
// there: the next request gets the active's next ID.
TEST(Replica, LoadsASnapshotWithGapsAndGoesOnFromIt) {
  ChangeLog log;
  auto service = std::make_shared<LockService>(
      std::numeric_limits<std::uint64_t>::max(), &log);
  NamespaceHold ns = service->Open("n");
  for (int i = 0; i < 6; ++i) ns->Request(std::vector{W({"x"})});
  ns->Request(std::vector{R({"y"})});  // 7
  ns->Release(2);
  ns->Release(3);
  ns->Release(1);  // 4 acquired
  ns->Release(6);
  ns->Release(7);
  Replica replica;
  ASSERT_TRUE(replica.Load(log.Snapshot()).ok()) << replica.divergence();
  EXPECT_EQ(replica.Applied(), log.last());
  const auto spaces = replica.Spaces();
  EXPECT_EQ(spaces, locktopus::testing::ActiveSpaces(*service, {}));
  ASSERT_EQ(spaces.size(), 1u);
  EXPECT_EQ(spaces[0].last_id, 7u);
  ASSERT_EQ(spaces[0].locks.size(), 2u);
  EXPECT_EQ(spaces[0].locks[0].state, LockState::kAcquired);
  EXPECT_EQ(spaces[0].locks[1].state, LockState::kEnqueued);
  EXPECT_EQ(ns->Request(std::vector{W({"x"})}).id, 8u);
  ns->Release(4);
  EXPECT_EQ(locktopus::testing::CatchUp(log, replica), Outcome::kApplied)
      << replica.divergence();
  EXPECT_EQ(replica.Spaces(), locktopus::testing::ActiveSpaces(*service, {}));
}

TEST(Replica, ASnapshotThatContradictsItselfIsRefused) {
  Replica replica;
  const Status status =
      replica.Load({.position = 3,
                    .changes = {Request("a", 2, {}, std::nullopt),
                                Request("a", 2, {}, std::nullopt)}});
  EXPECT_FALSE(status.ok());
  EXPECT_NE(replica.divergence(), "");
  EXPECT_EQ(replica.Apply(4, End("a", 2)), Outcome::kDiverged);
}

// ---- The lock service and the sessions append
// ---------------------------------

TEST(LockServiceLog, EveryStepThatChangesALockIsAppendedWithItsPosition) {
  ChangeLog log;
  auto service =
      std::make_shared<LockService>(/*max_lock_memory=*/1 << 20, &log);
  NamespaceHold ns = service->Open("n");
  const Owner owner{.session = 3, .timeout_ms = 10};
  Position position = 99;
  EXPECT_EQ(ns->Request(std::vector{W({"a"})}, {}, owner, &position).id, 1u);
  EXPECT_EQ(position, 1u);
  EXPECT_TRUE(ns->TryRequest(std::vector{R({"a"})}, {}, {}, &position));
  EXPECT_EQ(position, 2u);
  EXPECT_TRUE(ns->Release(1, &position).found);
  EXPECT_EQ(position, 3u);
  // Not live: no change.
  EXPECT_FALSE(ns->Release(1, &position).found);
  EXPECT_EQ(position, 0u);
  // Refused by the lock memory budget: no ID, no change.
  const std::vector<Resource> huge(4096, W({"a", "b", "c", "d"}));
  EXPECT_EQ(ns->TryRequest(huge, {}, {}, &position), std::nullopt);
  EXPECT_EQ(log.last(), 3u);
  EXPECT_EQ(log.From(1),
            (std::vector{Request("n", 1, {W({"a"})}, true, owner),
                         Request("n", 2, {R({"a"})}, false), End("n", 1)}));
}

TEST(LockServiceLog, WithoutALogNothingIsAppendedAndPositionsAreLeftAlone) {
  auto service = std::make_shared<LockService>();
  NamespaceHold ns = service->Open("n");
  Position position = 99;
  ns->Request(std::vector{W({"a"})}, {}, {}, &position);
  ns->Release(1, &position);
  EXPECT_EQ(position, 99u);
}

// A connection names its owner: a plain one its abandon timeout, a
// session's its token and window. A session's opening precedes its lock,
// its end follows its lock's.
TEST(LockServiceLog, ConnectionsAndSessionsNameTheirOwners) {
  ChangeLog log;
  auto service = std::make_shared<LockService>(
      std::numeric_limits<std::uint64_t>::max(), &log);
  auto table = std::make_shared<SessionTable>(4, nullptr, &log);
  ConnectionConfig plain_config;
  plain_config.abandon_timeout = std::chrono::milliseconds(5000);
  locktopus::testing::FakeClient plain(service->Open("n"), plain_config);
  plain.conn->OnFrame(locktopus::testing::kLockA);
  ConnectionConfig session_config;
  session_config.abandon_timeout = std::chrono::milliseconds(700);
  auto io = std::make_shared<locktopus::testing::FakeIo>();
  auto session = table->Create(service->Open("n"), session_config);
  ASSERT_TRUE(session->Attach(io, nullptr));
  session->OnFrame(io.get(), locktopus::testing::kLockA);
  session->OnClosed(io.get());
  ASSERT_EQ(io->timers.size(), 1u);
  io->timers[0].second();  // the window passes
  const std::uint64_t id = session->token().id;
  EXPECT_EQ(log.From(1),
            (std::vector<Change>{
                Request("n", 1, {W({"a"})}, true, {.timeout_ms = 5000}),
                SessionOpened{.id = id,
                              .secret = session->token().secret,
                              .ns = "n",
                              .window_ms = 700},
                Request("n", 2, {W({"a"})}, false,
                        {.session = id, .timeout_ms = 700}),
                End("n", 2),
                SessionEnded{.id = id},
            }));
}

// ---- Threads
// --------------------------------------------------------------------

// Threads lock and release in shared and separate namespaces, drop their
// holds so that namespaces are freed and opened again above their old IDs,
// and force-release each other's locks, while a follower applies the log
// as it grows and trims what it has. Every change must apply (the same
// ID and acquired flag, in order), and at the end the replica holds what
// the service holds, owners included.
TEST(ReplicationThreads, AReplicaFollowingTheLogEndsEqualToTheActive) {
  constexpr int kThreads = 4;
  constexpr int kSteps = 20000;
  const std::vector<std::string> names = {"shared", "t0", "t1", "t2", "t3"};
  ChangeLog log;
  auto service = std::make_shared<LockService>(
      std::numeric_limits<std::uint64_t>::max(), &log);
  std::atomic<bool> done{false};
  Replica replica;
  Outcome outcome = Outcome::kApplied;
  std::thread follower([&] {
    while (outcome == Outcome::kApplied) {
      const bool last = done.load();
      outcome = locktopus::testing::CatchUp(log, replica);
      log.Trim(replica.Applied());
      if (last) break;
      std::this_thread::yield();
    }
  });
  // What each thread still holds at the end, with its owner.
  std::vector<locktopus::testing::Owners> owners(kThreads);
  std::vector<std::thread> threads;
  std::vector<std::vector<NamespaceHold>> kept(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      const Owner owner{.timeout_ms = static_cast<std::uint64_t>(t) + 1};
      struct Held {
        NamespaceHold ns;
        LockId id;
      };
      std::vector<Held> held;
      for (int step = 0; step < kSteps; ++step) {
        const int roll = static_cast<int>(rng() % 10);
        if (roll < 5 || held.empty()) {
          const std::string& name =
              rng() % 2 == 0 ? names[0]
                             : names[1 + static_cast<std::size_t>(t)];
          NamespaceHold ns = service->Open(name);
          const std::vector<Resource> resources = {
              {rng() % 2 == 0 ? Access::kRead : Access::kWrite,
               {std::string(1, static_cast<char>('a' + rng() % 3))}}};
          const LockId id = ns->Request(resources, {}, owner).id;
          held.push_back({std::move(ns), id});
        } else if (roll < 9 || held.size() > 8) {
          const std::size_t i = rng() % held.size();
          held[i].ns->Release(held[i].id);
          held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
          // Another thread's lock, perhaps: as an operator would.
          if (const auto stats = service->FindStats(names[0])) {
            ForceRelease(*service, names[0], stats->last_id - rng() % 8);
          }
        }
      }
      // Locks force-released meanwhile are not live: drop them.
      for (Held& h : held) {
        if (h.ns->State(h.id) == LockState::kNone) continue;
        owners[t][{h.ns->name(), h.id}] = owner;
        kept[t].push_back(h.ns);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  done = true;
  follower.join();
  EXPECT_EQ(outcome, Outcome::kApplied) << replica.divergence();
  EXPECT_EQ(locktopus::testing::CatchUp(log, replica), Outcome::kApplied)
      << replica.divergence();
  locktopus::testing::Owners all;
  for (const auto& o : owners) all.insert(o.begin(), o.end());
  const auto active = locktopus::testing::ActiveSpaces(*service, all);
  EXPECT_FALSE(active.empty());
  EXPECT_EQ(replica.Spaces(), active);
  EXPECT_GT(service->opened(), names.size());  // some were freed and reopened
  Replica fresh;
  ASSERT_TRUE(fresh.Load(log.Snapshot()).ok()) << fresh.divergence();
  EXPECT_EQ(fresh.Spaces(), active);
}

// ---- Codec
// ------------------------------------------------------------------------

TEST(ChangeCodec, FormatsEachChangeAsOneFrame) {
  EXPECT_EQ(
      FormatChange({.position = 17,
                    .change = Request("n", 5, {W({"a", "b"}), R({})}, true,
                                      {.session = 123, .timeout_ms = 60000})}),
      R"({"pos":17,"change":"request","ns":"n","id":5,)"
      R"("resources":[{"type":"write","path":["a","b"]},)"
      R"({"type":"read","path":[]}],"session":123,"timeout_ms":60000,)"
      R"("acquired":true})");
  EXPECT_EQ(FormatChange({.change = Request("n", 5, {}, std::nullopt)}),
            R"({"change":"request","ns":"n","id":5,"resources":[],)"
            R"("timeout_ms":0})");
  EXPECT_EQ(FormatChange({.position = 18, .change = End("n", 5)}),
            R"({"pos":18,"change":"end","ns":"n","id":5})");
  EXPECT_EQ(FormatChange({.change = IdsSkipped{.ns = "n", .last_id = 9}}),
            R"({"change":"skip","ns":"n","last_id":9})");
  EXPECT_EQ(FormatChange({.position = 19,
                          .change = SessionOpened{.id = 123,
                                                  .secret = "abc-_",
                                                  .ns = "n",
                                                  .window_ms = 60000}}),
            R"({"pos":19,"change":"session","id":123,"secret":"abc-_",)"
            R"("ns":"n","window_ms":60000})");
  EXPECT_EQ(FormatChange({.position = 20, .change = SessionEnded{.id = 123}}),
            R"({"pos":20,"change":"session_end","id":123})");
}

TEST(ChangeCodec, EveryChangeComesBackTheSame) {
  const std::string odd = "\"\\/\n\x01 é 🐙";
  const std::vector<ChangeFrame> frames = {
      {.position = 1,
       .change = Request(odd, 1, {W({odd, "", "x"}), R({})}, false,
                         {.session = ~std::uint64_t{0}, .timeout_ms = 0})},
      {.position = ~std::uint64_t{0},
       .change = Request("", 18446744073709551615u, {}, std::nullopt)},
      {.position = 3, .change = End(odd, 2)},
      {.position = 3, .change = End("\xff\xfe\xc3", 2)},  // not UTF-8
      {.change = IdsSkipped{.ns = "n", .last_id = 0}},
      {.position = 4,
       .change = SessionOpened{.id = 1, .secret = odd, .ns = odd}},
      {.position = 5, .change = SessionEnded{.id = 42}},
  };
  for (const ChangeFrame& frame : frames) {
    const std::string text = FormatChange(frame);
    EXPECT_EQ(ParseChange(text), frame) << text;
  }
}

TEST(ChangeCodec, AnythingMalformedIsRefused) {
  const std::vector<std::string_view> texts = {
      "",
      "not json",
      "[]",
      "17",
      R"({})",
      R"({"change":"end","ns":"n","id":5} trailing)",
      R"({"change":"lock","ns":"n","id":5})",
      R"({"change":5,"ns":"n","id":5})",
      R"({"change":"end","ns":"n"})",
      R"({"change":"end","id":5})",
      R"({"change":"end","ns":5,"id":5})",
      R"({"change":"end","ns":"n","id":0})",
      R"({"change":"end","ns":"n","id":-5})",
      R"({"change":"end","ns":"n","id":5.5})",
      R"({"change":"end","ns":"n","id":"5"})",
      R"({"change":"end","ns":"n","id":18446744073709551616})",
      R"({"change":"end","ns":"n","id":5,"extra":1})",
      R"({"pos":0,"change":"end","ns":"n","id":5})",
      R"({"pos":-1,"change":"end","ns":"n","id":5})",
      R"({"pos":"1","change":"end","ns":"n","id":5})",
      R"({"change":"request","ns":"n","id":5,"timeout_ms":1})",
      R"({"change":"request","ns":"n","id":5,"resources":{},"timeout_ms":1})",
      R"({"change":"request","ns":"n","id":5,"resources":[],"timeout_ms":-1})",
      R"({"change":"request","ns":"n","id":5,"resources":[]})",
      R"({"change":"request","ns":"n","id":5,"resources":[],"timeout_ms":1,)"
      R"("session":0})",
      R"({"change":"request","ns":"n","id":5,"resources":[],"timeout_ms":1,)"
      R"("acquired":1})",
      R"({"change":"request","ns":"n","id":5,"resources":[{"type":"w",)"
      R"("path":[]}],"timeout_ms":1})",
      R"({"change":"request","ns":"n","id":5,"resources":[{"type":"read"}],)"
      R"("timeout_ms":1})",
      R"({"change":"request","ns":"n","id":5,"resources":[{"type":"read",)"
      R"("path":[1]}],"timeout_ms":1})",
      R"({"change":"request","ns":"n","id":5,"resources":[{"type":"read",)"
      R"("path":[],"x":0}],"timeout_ms":1})",
      R"({"change":"request","ns":"n","id":5,"resources":["read"],)"
      R"("timeout_ms":1})",
      R"({"change":"skip","ns":"n"})",
      R"({"change":"session","id":1,"secret":"s","ns":"n"})",
      R"({"change":"session","id":0,"secret":"s","ns":"n","window_ms":1})",
      R"({"change":"session_end"})",
      R"({"change":"session_end","id":1,"ns":"n"})",
      R"({"change":"end","ns":"n","id":5,"x":[[[[[[[[[[[[]]]]]]]]]]]]})",
  };
  for (std::string_view text : texts) {
    EXPECT_EQ(ParseChange(text), std::nullopt) << text;
  }
}

// A session's secret is never printed (logs, test failures).
TEST(ChangeCodec, PrintingAChangeLeavesTheSecretOut) {
  std::ostringstream os;
  os << Change(
      SessionOpened{.id = 0xab, .secret = "SECRET", .ns = "n", .window_ms = 5});
  EXPECT_EQ(os.str(), "open session 00000000000000ab of n window 5 ms");
}

}  // namespace
}  // namespace locktopus::server::ha
