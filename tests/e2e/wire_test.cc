// End-to-end: the real locktopus binary on a loopback port, driven by a
// small Beast client. The JavaScript suite (js/) covers the protocol table
// in full with the published client; this covers the C++ side and the
// scenarios that need many connections or process control.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/server_process.h"

namespace locktopus::e2e {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST(Wire, ConversationAndQueuedAcquisition) {
  ServerProcess server;
  const std::string ns = UniqueNs();
  Client a(server, ns), b(server, ns);
  a.Lock({Write({"a"})});
  EXPECT_EQ(a.Read(), Acquired(1));
  // "r": the short spelling of "read", which the codec never writes.
  b.Lock(R"([{"type":"r","path":["a","b"]}])");
  EXPECT_EQ(b.Read(), Enqueued(2));
  a.Release();
  EXPECT_EQ(a.Read(), Ready(1));
  EXPECT_EQ(b.Read(), Acquired(2));
  b.Release();
  EXPECT_EQ(b.Read(), Ready(2));
  // Another namespace has its own sequence.
  Client c(server, UniqueNs("other"));
  c.Lock({Write({"a"})});
  EXPECT_EQ(c.Read(), Acquired(1));
}

TEST(Wire, ProtocolErrorClosesOnlyThatConnection) {
  ServerProcess server;
  const std::string ns = UniqueNs();
  Client holder(server, ns), bad(server, ns);
  holder.Lock({Write({"a"})});
  EXPECT_EQ(holder.Read(), Acquired(1));
  bad.Send("{not json");
  const auto error = bad.Read();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->rfind("communication error: invalid JSON", 0), 0u) << *error;
  EXPECT_FALSE(bad.Read().has_value());
  EXPECT_EQ(bad.close_code(), 3000);
  holder.Release();
  EXPECT_EQ(holder.Read(), Ready(1));
}

TEST(Wire, CrowdOnOnePathIsServedInIdOrder) {
  ServerProcess server;
  const std::string ns = UniqueNs("crowd");
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 1; i <= kClients; ++i) {
    clients.push_back(std::make_unique<Client>(server, ns));
    clients.back()->Lock({Write({"hot"})});
    EXPECT_EQ(clients.back()->Read(), i == 1 ? Acquired(i) : Enqueued(i));
  }
  // If any later client were granted first, the next one in ID order would
  // never be: its read below would time out.
  for (int i = 1; i <= kClients; ++i) {
    Client& c = *clients[i - 1];
    if (i > 1) ASSERT_EQ(c.Read(), Acquired(i)) << i;
    c.Release();
    ASSERT_EQ(c.Read(), Ready(i));
  }
  HttpReply stats = HttpGet(server, "/stats_v1?namespace=" + ns);
  EXPECT_EQ(
      stats.body,
      R"({"LastGroupID":200,"GroupsPending":0,"GroupsAcquired":0,)"
      R"("LocksPending":0,"LocksAcquired":0,"PathCount":0,"MemoryBytes":0})");
}

// How long after `holder` drops does `waiter`'s queued lock get acquired?
milliseconds AbandonDelay(ServerProcess& server, const std::string& query) {
  const std::string ns = UniqueNs();
  Client holder(server, ns, query), waiter(server, ns);
  holder.Lock({Write({"a"})});
  EXPECT_EQ(holder.Read()->find("acquired") != std::string::npos, true);
  waiter.Lock({Write({"a"})});
  EXPECT_EQ(waiter.Read()->find("enqueued") != std::string::npos, true);
  const auto dropped = Clock::now();
  holder.Drop();
  const auto answer = waiter.Read(std::chrono::seconds(30));
  EXPECT_TRUE(answer && answer->find("acquired") != std::string::npos);
  waiter.Release();
  waiter.Read();
  return std::chrono::duration_cast<milliseconds>(Clock::now() - dropped);
}

TEST(Wire, AbandonedLockOutlivesItsConnectionForTheTimeout) {
  LOCKTOPUS_NEEDS_OWN_SERVER("--default-abandon-timeout 600");
  ServerProcess server({"--default-abandon-timeout", "600"});
  // Lower bounds only: an abandoned lock must not go early. The upper
  // bound is the read's patience, which is generous on purpose.
  EXPECT_GE(AbandonDelay(server, ""), milliseconds(500));
  EXPECT_GE(AbandonDelay(server, "&abandon-timeout-ms=300"), milliseconds(250));
  EXPECT_LT(AbandonDelay(server, "&abandon-timeout-ms=0"), milliseconds(500));
}

TEST(Wire, DroppingAnEnqueuedConnectionCancelsItsLockAtOnce) {
  LOCKTOPUS_NEEDS_OWN_SERVER("--default-abandon-timeout 60000");
  ServerProcess server({"--default-abandon-timeout", "60000"});
  const std::string ns = UniqueNs();
  Client a(server, ns), b(server, ns), c(server, ns);
  a.Lock({Write({"a"})});
  a.Read();
  b.Lock({Write({"a"})});
  EXPECT_EQ(b.Read(), Enqueued(2));
  c.Lock({Write({"a"})});
  EXPECT_EQ(c.Read(), Enqueued(3));
  b.Drop();
  // Once the server has seen the drop, only c is pending.
  ASSERT_TRUE(WaitForHttp(server, "/stats_v1?namespace=" + ns,
                          R"("GroupsPending":1,)", std::chrono::seconds(20)));
  a.Release();
  EXPECT_EQ(a.Read(), Ready(1));
  EXPECT_EQ(c.Read(), Acquired(3));  // not after 60 s
}

TEST(Wire, ShutdownWithoutLiveLocksExitsZero) {
  LOCKTOPUS_NEEDS_OWN_SERVER("signals the server");
  ServerProcess server;
  { Client idle(server, UniqueNs()); }
  server.Signal(SIGTERM);
  EXPECT_EQ(server.WaitExit(std::chrono::seconds(20)), 0);
}

TEST(Wire, ShutdownWaitsForLiveLocks) {
  LOCKTOPUS_NEEDS_OWN_SERVER("signals the server");
  ServerProcess server;
  const std::string ns = UniqueNs();
  Client holder(server, ns), late(server, ns);
  holder.Lock({Write({"a"})});
  EXPECT_EQ(holder.Read(), Acquired(1));
  server.Signal(SIGINT);
  ASSERT_TRUE(
      server.WaitForLog("waiting for 1 live locks", std::chrono::seconds(20)));
  EXPECT_EQ(server.WaitExit(milliseconds(300)), std::nullopt);
  // A connection opened before the signal gets no new lock: it would hold
  // the shutdown open.
  late.Lock({Write({"elsewhere"})});
  EXPECT_EQ(late.Read(),
            "communication error: server is shutting down: no new locks");
  // New connections are refused while draining.
  HttpReply refused = HttpGet(server, "/");
  EXPECT_EQ(refused.status, 0);
  holder.Release();
  EXPECT_EQ(holder.Read(), Ready(1));
  EXPECT_EQ(server.WaitExit(std::chrono::seconds(20)), 0);
}

TEST(Wire, SecondSignalExitsAtOnceWithOne) {
  LOCKTOPUS_NEEDS_OWN_SERVER("signals the server");
  ServerProcess server;
  Client holder(server, UniqueNs());
  holder.Lock({Write({"a"})});
  holder.Read();
  server.Signal(SIGTERM);
  ASSERT_TRUE(server.WaitForLog("waiting for", std::chrono::seconds(20)));
  server.Signal(SIGTERM);
  EXPECT_EQ(server.WaitExit(std::chrono::seconds(20)), 1);
}

}  // namespace
}  // namespace locktopus::e2e
