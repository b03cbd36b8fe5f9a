// locktopusctl's `release --force` (DELETE /locks_v1) against the real
// server: an operator ends a holder's lock, its waiter is acquired at once
// with the larger fencing token, and the holder is closed with 4000; without
// the token nothing changes; a lock whose holder has gone, waiting out a
// long abandon timeout, ends at once too.

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "tests/e2e/ctl_fixture.h"
#include "tests/e2e/server_process.h"

namespace locktopus {
namespace {
using e2e::CtlTest;
using e2e::ServerProcess;
TEST_F(CtlTest, ReleaseForceEndsTheHolderAndItsWaiterMovesOn) {
  const std::string token = "operator-token";
  const std::string tokens = File("tokens");
  std::ofstream(tokens) << token << "\n";
  ServerProcess server({"--auth-token-file", tokens});
  e2e::Client a(server, "ns", "&token=" + token);
  e2e::Client b(server, "ns", "&token=" + token);
  a.Lock({e2e::Write({"x"})});
  ASSERT_EQ(a.Read(), e2e::Acquired(1));
  b.Lock({e2e::Write({"x", "y"})});
  ASSERT_EQ(b.Read(), e2e::Enqueued(2));

  // 0: without the token the server refuses, and nothing changes.
  EXPECT_EQ(Run(Join(At(server), {"release", "--force", "1"})), 1);
  EXPECT_NE(Err(0).find("server answered HTTP 401: Unauthorized"),
            std::string::npos)
      << Err(0);
  const Stats before = ReadStats(
      e2e::HttpGet(server, "/stats_v1?namespace=ns&token=" + token).body);
  EXPECT_EQ(before.locks_acquired, 1u);
  EXPECT_EQ(before.locks_pending, 1u);

  // 1: with it, lock 1 ends; lock 2, its waiter, is acquired at once.
  ASSERT_EQ(
      Run(Join(At(server), {"--token", token, "release", "--force", "1"})), 0)
      << Err(1);
  EXPECT_EQ(Out(1), "Released lock 1 of namespace [ns]: it was acquired\n");
  EXPECT_EQ(b.Read(), e2e::Acquired(2));
  EXPECT_EQ(a.Read(), "communication error: lock released by an operator");
  EXPECT_EQ(a.Read(), std::nullopt);
  EXPECT_EQ(a.close_code(), 4000);
  EXPECT_TRUE(server.WaitForLog(
      "WARN lock 1 of namespace [ns] released by an operator from 127.0.0.1:",
      std::chrono::seconds(10)))
      << server.Log();
  EXPECT_NE(e2e::HttpGet(server, "/metrics?token=" + token)
                .body.find("\nlocktopus_locks_force_released_total 1\n"),
            std::string::npos);

  // 2: it is not live any more: 404, exit 1.
  EXPECT_EQ(
      Run(Join(At(server), {"--token", token, "release", "--force", "1"})), 1);
  EXPECT_EQ(Err(2),
            "locktopusctl: server answered HTTP 404: Lock not found: no live "
            "lock 1 of namespace [ns]\n");
  b.Release();
  EXPECT_EQ(b.Read(), e2e::Ready(2));
}

// The main use: a holder gone, its lock kept for a 10-minute abandon
// timeout, blocking its subtree. Released, the waiter is acquired at once.
TEST_F(CtlTest, ReleaseForceEndsAnAbandonedLockAtOnce) {
  ServerProcess server;
  e2e::Client a(server, "ns", "&abandon-timeout-ms=600000");
  e2e::Client b(server, "ns");
  a.Lock({e2e::Write({})});
  ASSERT_EQ(a.Read(), e2e::Acquired(1));
  b.Lock({e2e::Write({"deep", "below"})});
  ASSERT_EQ(b.Read(), e2e::Enqueued(2));
  a.Drop();
  // Abandoned, not released: it waits out its timeout, blocking lock 2.
  ASSERT_TRUE(e2e::WaitForHttp(server, "/locks_v1?namespace=ns",
                               R"("abandoned":true)",
                               std::chrono::seconds(10)));
  EXPECT_EQ(StatsOf(server).locks_pending, 1u);

  ASSERT_EQ(Run(Join(At(server), {"release", "--force", "1"})), 0) << Err(0);
  EXPECT_EQ(Out(0),
            "Released lock 1 of namespace [ns]: it was abandoned by its "
            "connection\n");
  EXPECT_EQ(b.Read(), e2e::Acquired(2));
}

}  // namespace
}  // namespace locktopus
