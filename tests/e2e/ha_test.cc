// HA mode end to end: real locktopus processes of one group against real
// etcd members on loopback (tests/e2e/etcd_cluster.h), and --state-dir.
// Each test takes seconds: a lease must expire, a grace pass. Small
// timings: a TTL of 2 s (a grant window of 1.6 s), abandon timeouts up to
// 2 s, so a grace of 1.6 + 2 + 0.4 = 4 s. Each cluster is initialised
// (--ha-init) before its servers start; the first IDs are then above the
// wall-clock floor, so tests count from the first ID they see. Skipped
// without etcd or node (which starts it).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/e2e/etcd_cluster.h"
#include "tests/e2e/server_process.h"
#include "wire/codec.h"

namespace locktopus::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr LockId kBlock = LockId{1} << 32;    // --state-dir
constexpr LockId kHaBlock = LockId{1} << 21;  // HA mode (node.h)
constexpr auto kGrace = milliseconds(4000);

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Polls /readyz until it answers `status`; false after `patience`.
bool AwaitReady(const ServerProcess& server, int status,
                milliseconds patience) {
  const auto deadline = Clock::now() + patience;
  while (Clock::now() < deadline) {
    if (HttpGet(server, "/readyz").status == status) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

// N of a /readyz body "grace: N s left"; -1 for any other body.
int GraceSeconds(const std::string& body) {
  const std::string prefix = "grace: ", suffix = " s left";
  if (!body.starts_with(prefix) || !body.ends_with(suffix)) return -1;
  return std::stoi(body.substr(prefix.size()));
}

// Whether `metrics` (a /metrics page) gives the role grace, alone, with
// between `low` and `high` seconds of it left.
bool HasGraceMetrics(const std::string& metrics, double low, double high) {
  for (const std::string_view role :
       {"standby", "grace", "serving", "fenced", "resigned"}) {
    const std::string series = "locktopus_ha_role{role=\"" + std::string(role) +
                               "\"} " + (role == "grace" ? "1" : "0") + "\n";
    if (metrics.find(series) == std::string::npos) {
      ADD_FAILURE() << "no " << series << " in " << metrics;
      return false;
    }
  }
  const std::string name = "\nlocktopus_ha_grace_remaining_seconds ";
  const std::size_t at = metrics.find(name);
  if (at == std::string::npos) return false;
  const double left = std::stod(metrics.substr(at + name.size()));
  EXPECT_GE(left, low);
  EXPECT_LE(left, high);
  return low <= left && left <= high;
}

// The ID in an answer ({"id":"N",...}).
LockId IdOf(const std::optional<std::string>& answer) {
  const std::string key = "\"id\":";
  const std::size_t at = answer ? answer->find(key) : std::string::npos;
  if (at == std::string::npos) return 0;
  std::size_t from = at + key.size();
  if (from < answer->size() && (*answer)[from] == '"') ++from;  // a string
  return std::stoull(answer->substr(from));
}

// Runs the server binary once with `flags` (--ha-init); its exit code.
int RunOnce(const std::vector<std::string>& flags) {
  std::string command = LOCKTOPUS_BIN;
  for (const std::string& flag : flags) command += " '" + flag + "'";
  const int status = std::system((command + " 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// What `command` writes on stdout.
std::string Output(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) {
    out.append(buffer, n);
  }
  pclose(pipe);
  return out;
}

// A token file (one token) in a temporary directory of its own, removed
// with it.
class TokenFile {
 public:
  explicit TokenFile(const std::string& token) : token_(token) {
    char dir[] = "/tmp/locktopus-token-XXXXXX";
    if (mkdtemp(dir) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = dir;
    std::ofstream(path()) << token << "\n";
  }
  ~TokenFile() { std::filesystem::remove_all(dir_); }
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;

  std::string path() const { return dir_ + "/token"; }
  const std::string& token() const { return token_; }

 private:
  std::string dir_;
  std::string token_;
};

// A server's name in the group's record and logs: its -H:-p.
std::string NameOf(const ServerProcess& server) {
  return server.host() + ":" + std::to_string(server.port());
}

// The HTTP status of a WebSocket upgrade of `target` on `server` sent with
// the Authorization header `authorization` (none if empty): 101 if it
// opened (the stream is closed at once).
int UpgradeStatus(const ServerProcess& server, const std::string& target,
                  const std::string& authorization) {
  namespace beast = boost::beast;
  namespace websocket = beast::websocket;
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::resolver resolver(ioc);
  websocket::stream<beast::tcp_stream> ws(ioc);
  beast::get_lowest_layer(ws).connect(
      resolver.resolve(server.host(), std::to_string(server.port())));
  ws.set_option(websocket::stream_base::decorator(
      [&authorization](websocket::request_type& request) {
        if (!authorization.empty()) {
          request.set(beast::http::field::authorization, authorization);
        }
      }));
  websocket::response_type response;
  beast::error_code ec;
  ws.handshake(response, server.host(), target, ec);
  return response.result_int();
}

class HaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdCluster::Available())
      GTEST_SKIP() << "etcd or node is not installed";
  }

  // locktopus --ha-init for group g alone; true if it succeeded.
  static bool Init(const EtcdCluster& etcd, bool fresh = true) {
    std::vector<std::string> flags = {"--ha-init", "--etcd-endpoints",
                                      etcd.ClientUrls(), "--ha-group", "g"};
    if (fresh) flags.push_back("--ha-new-cluster");
    return RunOnce(flags) == 0;
  }
  // etcdctl del KEY.
  static bool Delete(const EtcdCluster& etcd, const std::string& key) {
    const std::string command = "ETCDCTL_API=3 etcdctl --endpoints " +
                                etcd.ClientUrls() + " del " + key +
                                " >/dev/null";
    return std::system(command.c_str()) == 0;
  }

  std::vector<std::string> Flags(const EtcdCluster& etcd,
                                 int ttl_ms = 2000) const {
    return {"--etcd-endpoints",
            etcd.ClientUrls(),
            "--ha-group",
            "g",
            "--ha-ttl-ms",
            std::to_string(ttl_ms),
            "--max-abandon-timeout",
            "2000",
            "--default-abandon-timeout",
            "1000"};
  }
  // Flags, replicating with the peer token in `peer`.
  std::vector<std::string> Replicating(const EtcdCluster& etcd,
                                       const TokenFile& peer) const {
    std::vector<std::string> flags = Flags(etcd);
    flags.insert(flags.end(), {"--ha-peer-token-file", peer.path()});
    return flags;
  }

  // Group g's record as etcd holds it now (etcdctl get).
  static std::string RecordText(const EtcdCluster& etcd) {
    return Output("ETCDCTL_API=3 etcdctl --endpoints " + etcd.ClientUrls() +
                  " get /locktopus/g/record --print-value-only");
  }
  // Whether group g's record lists `server` in its in-sync set now, under
  // the candidacy `revision` if it is not 0.
  static bool InSync(const EtcdCluster& etcd, const ServerProcess& server,
                     std::int64_t revision = 0) {
    const std::string member =
        "\"name\":\"" + NameOf(server) + "\"" +
        (revision != 0 ? ",\"revision\":" + std::to_string(revision) + "}"
                       : "");
    return RecordText(etcd).find(member) != std::string::npos;
  }
  // Whether it does by the end of `patience`.
  static bool AwaitInSync(const EtcdCluster& etcd, const ServerProcess& server,
                          milliseconds patience) {
    return Await([&] { return InSync(etcd, server); }, patience);
  }
  // The revision of `server`'s candidacy in group g's election, 0 if it has
  // none (etcdctl get -w fields: each key's CreateRevision line comes
  // before its Value line).
  static std::int64_t CandidacyOf(const EtcdCluster& etcd,
                                  const ServerProcess& server) {
    std::istringstream fields(
        Output("ETCDCTL_API=3 etcdctl --endpoints " + etcd.ClientUrls() +
               " get --prefix /locktopus/g/election/ -w fields"));
    const std::string revision = "\"CreateRevision\" : ";
    std::int64_t last = 0;
    for (std::string line; std::getline(fields, line);) {
      if (line.starts_with(revision)) {
        last = std::stoll(line.substr(revision.size()));
      } else if (line == "\"Value\" : \"" + NameOf(server) + "\"") {
        return last;
      }
    }
    return 0;
  }
  // Group g initialised, with an active and a standby in its in-sync set,
  // both replicating with the peer token in `peer`; both null (and the
  // test failed) if either does not come up in time.
  struct Pair {
    std::unique_ptr<ServerProcess> active, standby;
  };
  Pair StartInSync(const EtcdCluster& etcd, const TokenFile& peer) const {
    if (!Init(etcd)) {
      ADD_FAILURE() << "--ha-init failed";
      return {};
    }
    Pair pair{.active =
                  std::make_unique<ServerProcess>(Replicating(etcd, peer))};
    if (!AwaitReady(*pair.active, 200, seconds(10))) {
      ADD_FAILURE() << "the active does not serve\n" << pair.active->Log();
      return {};
    }
    pair.standby = std::make_unique<ServerProcess>(Replicating(etcd, peer));
    if (!AwaitInSync(etcd, *pair.standby, seconds(10))) {
      ADD_FAILURE() << "the standby is not in sync\n"
                    << pair.active->Log() << pair.standby->Log();
      return {};
    }
    return pair;
  }
  // Whether `check` holds by the end of `patience`.
  static bool Await(const std::function<bool()>& check, milliseconds patience) {
    const auto deadline = Clock::now() + patience;
    while (!check()) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return true;
  }
};

// A 32-character peer token made of `c`.
std::string PeerToken(char c) { return std::string(32, c); }

// Opens a session (`query`: &session=...) on `server`, trying again while
// the server refuses the upgrade (a standby's 503); null after `patience`.
std::unique_ptr<Client> OpenWhenReady(const ServerProcess& server,
                                      const std::string& query,
                                      milliseconds patience) {
  const auto deadline = Clock::now() + patience;
  while (Clock::now() < deadline) {
    try {
      return std::make_unique<Client>(server, "ns", query);
    } catch (const std::exception&) {
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  return nullptr;
}

// The token of a session's first frame ("" if it is none).
std::string SessionToken(const std::optional<std::string>& frame) {
  const auto parsed = frame ? wire::ParseSessionFrame(*frame) : std::nullopt;
  return parsed ? parsed->token : std::string();
}

// The `resumed` frame of session `token` with a window of 2 s and lock `id`
// in `state`.
std::string Resumed(const std::string& token, LockId id,
                    wire::ConnState state) {
  return wire::FormatSessionFrame({.state = wire::SessionFrame::kResumed,
                                   .token = token,
                                   .window_ms = 2000,
                                   .id = id,
                                   .lock = state});
}

TEST_F(HaTest, OnlyTheActiveTakesClients) {
  EtcdCluster etcd(1);
  ASSERT_TRUE(Init(etcd));
  ServerProcess active(Flags(etcd));
  ASSERT_TRUE(AwaitReady(active, 200, seconds(10))) << active.Log();
  ServerProcess standby(Flags(etcd));
  ASSERT_TRUE(standby.WaitForLog("standby", seconds(5)));
  std::this_thread::sleep_for(milliseconds(300));
  const HttpReply ready = HttpGet(standby, "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "standby");
  EXPECT_EQ(HttpGet(active, "/readyz").body, "serving");
  EXPECT_ANY_THROW(Client(standby, "ns"));
  // The first active of a group never had a predecessor: no grace.
  Client c(active, "ns");
  c.Lock({Write({"a"})});
  const std::optional<std::string> first = c.Read();
  // Above the initialisation's wall-clock floor (2048 per ms since 2026).
  EXPECT_GT(IdOf(first), LockId{1} << 40);
  EXPECT_EQ(first, Acquired(IdOf(first)));
  EXPECT_TRUE(active.WaitForLog("no grace", seconds(5))) << active.Log();
}

// kill -9 of the active: the standby is elected once the lease expires, and
// grants only after the grace, with IDs above the old active's ceiling. A
// lock asked for during the grace reads `enqueued`, then `acquired`.
TEST_F(HaTest, KillingTheActiveHandsOverAfterTheGrace) {
  EtcdCluster etcd(1);
  ASSERT_TRUE(Init(etcd));
  auto first = std::make_unique<ServerProcess>(Flags(etcd));
  ASSERT_TRUE(AwaitReady(*first, 200, seconds(10)));
  ServerProcess second(Flags(etcd));
  ASSERT_TRUE(second.WaitForLog("standby", seconds(5)));
  LockId base = 0;
  {
    Client holder(*first, "ns");
    holder.Lock({Write({"a"})});
    const std::optional<std::string> answer = holder.Read();
    base = IdOf(answer) - 1;
    ASSERT_EQ(answer, Acquired(base + 1));
    first->Signal(SIGKILL);
    ASSERT_EQ(first->WaitExit(seconds(5)), 128);  // killed by a signal
  }
  const auto killed = Clock::now();
  ASSERT_TRUE(AwaitReady(second, 200, seconds(10))) << second.Log();
  // /readyz and /metrics say the grace, and how much of it is left.
  const HttpReply ready = HttpGet(second, "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_GE(GraceSeconds(ready.body), 2) << ready.body;
  EXPECT_LE(GraceSeconds(ready.body), 4) << ready.body;
  const std::string metrics = HttpGet(second, "/metrics").body;
  EXPECT_TRUE(HasGraceMetrics(metrics, 1.0, 4.0));
  // Not in the old active's in-sync set: a degraded takeover.
  EXPECT_NE(metrics.find("locktopus_ha_takeovers_total{kind=\"degraded\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_TRUE(second.WaitForLog("degraded takeover", seconds(5)))
      << second.Log();
  Client next(second, "ns");
  next.Lock({Write({"a"})});
  // Above the old active's ceiling (and the wall-clock floor).
  const std::optional<std::string> queued = next.Read();
  EXPECT_EQ(queued, Enqueued(IdOf(queued)));
  EXPECT_GT(IdOf(queued), base + kHaBlock);
  EXPECT_EQ(next.Read(), Acquired(IdOf(queued)));
  const double acquired = Since(killed);
  // The lease (2 s) had to go, then the grace (4 s) pass since the
  // election was seen. The grace began after the kill: however late the
  // election was seen here, the grant cannot come before it has passed.
  EXPECT_GE(acquired, kGrace.count() / 1000.0) << second.Log();
  EXPECT_LE(acquired, 2.5 + kGrace.count() / 1000.0 + 2) << second.Log();
  EXPECT_TRUE(second.WaitForLog("grace 4000 ms", seconds(5))) << second.Log();
}

// Replication: the standby joins the record's in-sync set; kill -9 of the
// active, and it takes over with its replica and no grace. A session that
// held a lock resumes on it, its lock acquired with the same ID; a session
// whose lock was queued behind it finds it still queued, and acquired once
// the first is released.
TEST_F(HaTest, AnInSyncStandbyTakesOverWithTheSessionsLocks) {
  EtcdCluster etcd(1);
  const TokenFile peer(PeerToken('p'));
  const Pair pair = StartInSync(etcd, peer);
  ASSERT_NE(pair.standby, nullptr);
  const std::unique_ptr<ServerProcess>& first = pair.active;
  const std::unique_ptr<ServerProcess>& second = pair.standby;
  std::string holding, waiting;
  LockId held = 0, queued = 0;
  {
    Client holder(*first, "ns", "&session=new&abandon-timeout-ms=2000");
    holding = SessionToken(holder.Read());
    ASSERT_FALSE(holding.empty());
    holder.Lock({Write({"a"})});
    const std::optional<std::string> acquired = holder.Read();
    held = IdOf(acquired);
    ASSERT_EQ(acquired, Acquired(held));
    Client waiter(*first, "ns", "&session=new&abandon-timeout-ms=2000");
    waiting = SessionToken(waiter.Read());
    waiter.Lock({Write({"a"})});
    const std::optional<std::string> enqueued = waiter.Read();
    queued = IdOf(enqueued);
    ASSERT_EQ(enqueued, Enqueued(queued));
    first->Signal(SIGKILL);
    ASSERT_EQ(first->WaitExit(seconds(5)), 128);
  }
  std::unique_ptr<Client> holder =
      OpenWhenReady(*second, "&session=" + holding, seconds(10));
  ASSERT_NE(holder, nullptr) << second->Log();
  EXPECT_EQ(holder->Read(), Resumed(holding, held, wire::ConnState::kAcquired));
  // Serving, with no grace to wait out (how soon after the kill is
  // scripts/failover.sh's measure, not a test's).
  EXPECT_EQ(HttpGet(*second, "/readyz").body, "serving");
  EXPECT_TRUE(second->WaitForLog("in-sync takeover, no grace", seconds(5)))
      << second->Log();
  EXPECT_NE(
      HttpGet(*second, "/metrics")
          .body.find("locktopus_ha_takeovers_total{kind=\"in_sync\"} 1\n"),
      std::string::npos);
  Client waiter(*second, "ns", "&session=" + waiting);
  EXPECT_EQ(waiter.Read(),
            Resumed(waiting, queued, wire::ConnState::kEnqueued));
  holder->Release();
  EXPECT_EQ(holder->Read(), Ready(held));
  EXPECT_EQ(waiter.Read(), Acquired(queued));
}

// A standby stopped past its lease campaigns again under a new candidacy
// when it runs again; it rejoins the in-sync set under that one, not the
// lapsed one, so that the active's kill -9 is still an in-sync takeover.
TEST_F(HaTest, AStandbyWhoseLeaseLapsedRejoinsUnderItsNewCandidacy) {
  EtcdCluster etcd(1);
  const TokenFile peer(PeerToken('p'));
  const Pair pair = StartInSync(etcd, peer);
  ASSERT_NE(pair.standby, nullptr);
  const std::unique_ptr<ServerProcess>& first = pair.active;
  const std::unique_ptr<ServerProcess>& second = pair.standby;
  const std::int64_t lapsed = CandidacyOf(etcd, *second);
  ASSERT_NE(lapsed, 0);
  ASSERT_TRUE(second->Pause(seconds(5)));
  const bool gone =
      Await([&] { return CandidacyOf(etcd, *second) == 0; }, seconds(10));
  second->Signal(SIGCONT);
  ASSERT_TRUE(gone) << "the lease (TTL 2 s) did not lapse";
  std::int64_t candidacy = 0;
  EXPECT_TRUE(Await(
      [&] {
        candidacy = CandidacyOf(etcd, *second);
        return candidacy > lapsed && InSync(etcd, *second, candidacy);
      },
      seconds(10)))
      << "candidacy " << candidacy << ", record " << RecordText(etcd)
      << first->Log() << second->Log();
  Client holder(*first, "ns", "&session=new&abandon-timeout-ms=2000");
  const std::string token = SessionToken(holder.Read());
  holder.Lock({Write({"a"})});
  const std::optional<std::string> acquired = holder.Read();
  ASSERT_EQ(acquired, Acquired(IdOf(acquired)));
  first->Signal(SIGKILL);
  ASSERT_EQ(first->WaitExit(seconds(5)), 128);
  std::unique_ptr<Client> resumed =
      OpenWhenReady(*second, "&session=" + token, seconds(10));
  ASSERT_NE(resumed, nullptr) << second->Log();
  EXPECT_EQ(resumed->Read(),
            Resumed(token, IdOf(acquired), wire::ConnState::kAcquired));
  EXPECT_TRUE(second->WaitForLog("in-sync takeover, no grace", seconds(5)))
      << second->Log();
}

// /replicate_v1 opens for the group's peer token alone: not without a token,
// not with another one, not with a client's token (the stream carries every
// session's secret), nor with the peer token in the query. A standby with
// another peer token is refused, and never joins the in-sync set.
TEST_F(HaTest, OnlyThePeerTokenOpensReplication) {
  EtcdCluster etcd(1);
  ASSERT_TRUE(Init(etcd));
  const TokenFile peer(PeerToken('p'));
  const TokenFile other(PeerToken('q'));
  const TokenFile clients("client-token");
  std::vector<std::string> flags = Replicating(etcd, peer);
  flags.insert(flags.end(), {"--auth-token-file", clients.path()});
  ServerProcess active(flags);
  ASSERT_TRUE(AwaitReady(active, 200, seconds(10)));
  const std::string target =
      "/replicate_v1?member=127.0.0.1:1&revision=1&epoch=1&from=0";
  EXPECT_EQ(UpgradeStatus(active, target, ""), 401);
  EXPECT_EQ(UpgradeStatus(active, target, "Bearer " + other.token()), 401);
  EXPECT_EQ(UpgradeStatus(active, target, "Bearer " + clients.token()), 401);
  EXPECT_EQ(UpgradeStatus(active, target + "&token=" + peer.token(), ""), 401);
  // The client token still opens /v1.
  EXPECT_EQ(UpgradeStatus(active, "/v1?namespace=ns", "Bearer client-token"),
            101);
  EXPECT_EQ(UpgradeStatus(active, target, "Bearer " + peer.token()), 101);

  std::vector<std::string> wrong = Replicating(etcd, other);
  wrong.insert(wrong.end(), {"--auth-token-file", clients.path()});
  ServerProcess standby(wrong);
  EXPECT_TRUE(
      standby.WaitForLog("replication from " + NameOf(active), seconds(10)))
      << standby.Log();
  EXPECT_FALSE(AwaitInSync(etcd, standby, seconds(2)));
  EXPECT_EQ(active.Log().find("standby " + NameOf(standby) + " joined"),
            std::string::npos)
      << active.Log();
}

// An operator's force release is answered, like a client's frames, only
// once the in-sync standbys hold it: with the standby stopped, the answer
// waits until the active has written the record without it, so that a
// failover in between cannot bring back a lock the operator was told is
// gone. (The record, not the log: the test reads the log through a pipe,
// which may lag behind the answer.)
TEST_F(HaTest, AForceReleaseIsAnsweredOnceTheStandbysHoldIt) {
  EtcdCluster etcd(1);
  const TokenFile peer(PeerToken('p'));
  const Pair pair = StartInSync(etcd, peer);
  ASSERT_NE(pair.standby, nullptr);
  ServerProcess &active = *pair.active, &standby = *pair.standby;
  Client holder(active, "ns");
  holder.Lock({Write({"a"})});
  const LockId id = IdOf(holder.Read());
  ASSERT_NE(id, 0u);
  ASSERT_TRUE(standby.Pause(seconds(5)));
  const HttpReply reply =
      HttpDelete(active, "/locks_v1?namespace=ns&id=" + std::to_string(id));
  const bool named = InSync(etcd, standby);
  standby.Signal(SIGCONT);
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_FALSE(named) << "answered while the record still named the standby";
  EXPECT_TRUE(
      active.WaitForLog("standby " + NameOf(standby) + " dropped", seconds(5)))
      << active.Log();
}

// SIGTERM on the active: it drains (the held lock is still served), then
// resigns with the record marked clean; the successor serves at once.
TEST_F(HaTest, ACleanSwitchoverSkipsTheGrace) {
  EtcdCluster etcd(1);
  ASSERT_TRUE(Init(etcd));
  ServerProcess first(Flags(etcd));
  ASSERT_TRUE(AwaitReady(first, 200, seconds(10)));
  ServerProcess second(Flags(etcd));
  ASSERT_TRUE(second.WaitForLog("standby", seconds(5)));
  Client holder(first, "ns");
  holder.Lock({Write({"a"})});
  const std::optional<std::string> answer = holder.Read();
  const LockId base = IdOf(answer) - 1;
  ASSERT_EQ(answer, Acquired(base + 1));
  first.Signal(SIGTERM);
  ASSERT_TRUE(first.WaitForLog("waiting for 1 live locks", seconds(5)));
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(HttpGet(second, "/readyz").status, 503);  // still held
  holder.Release();
  EXPECT_EQ(holder.Read(), Ready(base + 1));
  const auto released = Clock::now();
  EXPECT_EQ(first.WaitExit(seconds(10)), 0) << first.Log();
  ASSERT_TRUE(AwaitReady(second, 200, seconds(5))) << second.Log();
  EXPECT_LT(Since(released), 1.0) << second.Log();
  EXPECT_NE(first.Log().find("resigned cleanly"), std::string::npos);
  EXPECT_TRUE(second.WaitForLog("no grace", seconds(5))) << second.Log();
  EXPECT_NE(HttpGet(second, "/metrics")
                .body.find("locktopus_ha_takeovers_total{kind=\"clean\"} 1\n"),
            std::string::npos);
  Client next(second, "ns");
  next.Lock({Write({"a"})});
  const std::optional<std::string> acquired = next.Read();
  EXPECT_EQ(acquired, Acquired(IdOf(acquired)));
  EXPECT_GT(IdOf(acquired), base + kHaBlock);
}

// etcd stops answering under the active: it cannot confirm its leadership,
// so once its window has passed it closes its clients with 1012 and exits 3.
TEST_F(HaTest, AnActiveCutOffFromEtcdFencesItself) {
  EtcdCluster etcd(1);
  ASSERT_TRUE(Init(etcd));
  ServerProcess active(Flags(etcd));
  ASSERT_TRUE(AwaitReady(active, 200, seconds(10)));
  Client holder(active, "ns");
  holder.Lock({Write({"a"})});
  ASSERT_NE(IdOf(holder.Read()), 0u);
  etcd.Pause(0);
  const auto paused = Clock::now();
  EXPECT_EQ(holder.Read(seconds(10)), std::nullopt);
  EXPECT_EQ(holder.close_code(), 1012);
  const double closed = Since(paused);
  EXPECT_LE(closed, 2.5);  // the window (1.6 s) after its last confirmation
  EXPECT_EQ(active.WaitExit(seconds(10)), 3) << active.Log();
  etcd.Resume(0);
  EXPECT_NE(active.Log().find("fenced"), std::string::npos);
}

// Killing etcd's leader pauses etcd for about a second; with a TTL of 5 s
// (a window of 4 s) the active rides it out: no client is disconnected.
TEST_F(HaTest, KillingTheEtcdLeaderDisconnectsNoClient) {
  EtcdCluster etcd(3);
  ASSERT_TRUE(Init(etcd));
  ServerProcess active(Flags(etcd, /*ttl_ms=*/5000));
  ASSERT_TRUE(AwaitReady(active, 200, seconds(10)));
  Client holder(active, "ns");
  holder.Lock({Write({"a"})});
  const std::optional<std::string> answer = holder.Read();
  const LockId base = IdOf(answer) - 1;
  ASSERT_EQ(answer, Acquired(base + 1));
  const std::optional<int> leader = etcd.WaitForLeader(seconds(5));
  ASSERT_TRUE(leader);
  etcd.Kill(*leader);
  // The connection stays up for twice the window: the release is answered.
  std::this_thread::sleep_for(seconds(8));
  holder.Release();
  EXPECT_EQ(holder.Read(), Ready(base + 1)) << active.Log();
  EXPECT_EQ(holder.close_code(), 0);
  Client other(active, "ns");
  other.Lock({Write({"a"})});
  EXPECT_EQ(other.Read(), Acquired(base + 2));
  EXPECT_EQ(active.Log().find("fenced"), std::string::npos) << active.Log();
}

// A cluster that was never initialised: the server refuses to serve and
// says how to initialise it, instead of taking etcd's silence for a fresh
// group.
TEST_F(HaTest, AnUninitialisedClusterIsNotServed) {
  EtcdCluster etcd(1);
  ServerProcess server(Flags(etcd));
  EXPECT_EQ(server.WaitExit(seconds(10)), 3) << server.Log();
  EXPECT_NE(server.Log().find("no shard map in etcd"), std::string::npos)
      << server.Log();
  EXPECT_NE(server.Log().find("--ha-init"), std::string::npos);
}

// The record deleted under a running group, then kill -9 of its active:
// the successor refuses (no IDs from 1, no skipped grace); --ha-init with
// every server stopped brings the record back above every ID issued, and
// the next active waits a grace.
TEST_F(HaTest, ALostRecordStopsTheGroupUntilItIsInitialisedAgain) {
  EtcdCluster etcd(1);
  ASSERT_TRUE(Init(etcd));
  auto first = std::make_unique<ServerProcess>(Flags(etcd));
  ASSERT_TRUE(AwaitReady(*first, 200, seconds(10)));
  auto second = std::make_unique<ServerProcess>(Flags(etcd));
  ASSERT_TRUE(second->WaitForLog("standby", seconds(5)));
  Client holder(*first, "ns");
  holder.Lock({Write({"a"})});
  const LockId held = IdOf(holder.Read());
  ASSERT_NE(held, 0u);
  ASSERT_TRUE(Delete(etcd, "/locktopus/g/record"));
  first->Signal(SIGKILL);
  first->WaitExit(seconds(5));
  EXPECT_EQ(second->WaitExit(seconds(10)), 3) << second->Log();
  EXPECT_NE(second->Log().find("no record of group [g]"), std::string::npos)
      << second->Log();
  // Refused while a candidacy is left (the killed active's lease), and
  // never as a new cluster.
  EXPECT_FALSE(Init(etcd, /*fresh=*/true));
  const auto deadline = Clock::now() + seconds(10);
  while (!Init(etcd, /*fresh=*/false) && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(200));
  }
  ServerProcess third(Flags(etcd));
  ASSERT_TRUE(AwaitReady(third, 200, seconds(10))) << third.Log();
  Client next(third, "ns");
  next.Lock({Write({"a"})});
  const std::optional<std::string> answer = next.Read();
  EXPECT_EQ(answer, Enqueued(IdOf(answer))) << third.Log();  // the grace
  EXPECT_GT(IdOf(answer), held);
  EXPECT_EQ(next.Read(), Acquired(IdOf(answer)));
}

// A server on the state directory `dir`, with a largest abandon timeout of
// `max_abandon_ms` (a grace of that plus 1 s after an unclean stop).
std::vector<std::string> StateDirFlags(const std::string& dir,
                                       int max_abandon_ms = 2000) {
  return {"--state-dir",
          dir,
          "--max-abandon-timeout",
          std::to_string(max_abandon_ms),
          "--default-abandon-timeout",
          "1000"};
}
// --state-dir: IDs continue above the recorded ceiling after every restart;
// after an unclean stop nothing is granted for the grace.
TEST(StateDir, IdsNeverGoBackAndACrashWaitsOutItsAbandonTimeout) {
  char dir[] = "/tmp/locktopus-state-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::vector<std::string> flags = StateDirFlags(dir);
  {
    ServerProcess server(flags);
    Client c(server, "ns");
    c.Lock({Write({"a"})});
    EXPECT_EQ(c.Read(), Acquired(1));  // a first start counts from 1
    c.Release();
    EXPECT_EQ(c.Read(), Ready(1));
    server.Signal(SIGTERM);
    EXPECT_EQ(server.WaitExit(seconds(10)), 0);
  }
  {
    ServerProcess server(flags);  // after a clean stop: no grace
    // A second server on the same directory would issue the same IDs: it
    // refuses to start (DIR/lock is held).
    EXPECT_EQ(RunOnce(flags), 1);
    Client c(server, "ns");
    c.Lock({Write({"a"})});
    EXPECT_EQ(c.Read(), Acquired(kBlock + 1));
    server.Signal(SIGKILL);
    server.WaitExit(seconds(5));
  }
  {
    // After a crash: the grace (2 + 1 s), which begins once `starting` has
    // passed, however slowly the server starts.
    const auto starting = Clock::now();
    ServerProcess server(flags);
    const HttpReply ready = HttpGet(server, "/readyz");
    EXPECT_EQ(ready.status, 200);
    EXPECT_GE(GraceSeconds(ready.body), 2) << ready.body;
    EXPECT_LE(GraceSeconds(ready.body), 3) << ready.body;
    EXPECT_TRUE(HasGraceMetrics(HttpGet(server, "/metrics").body, 1.0, 3.0));
    Client c(server, "ns");
    c.Lock({Write({"a"})});
    EXPECT_EQ(c.Read(), Enqueued(2 * kBlock + 1));
    EXPECT_EQ(c.Read(), Acquired(2 * kBlock + 1));
    EXPECT_GE(Since(starting), 3.0);
    EXPECT_EQ(HttpGet(server, "/readyz").body, "serving");
    const std::string metrics = HttpGet(server, "/metrics").body;
    EXPECT_NE(metrics.find("locktopus_ha_role{role=\"serving\"} 1\n"),
              std::string::npos);
    EXPECT_NE(metrics.find("\nlocktopus_ha_grace_remaining_seconds 0\n"),
              std::string::npos);
    EXPECT_TRUE(server.WaitForLog("did not stop cleanly", seconds(5)));
  }
  std::filesystem::remove_all(dir);
}

// A clean stop during the grace is not clean: the crashed run's clients
// may still be at work, and the next start must wait a grace again. The
// grace here (30 + 1 s) is far longer than the test, so a slow machine
// cannot end it before the stop; nothing waits it out.
TEST(StateDir, AStopDuringTheGraceIsNotClean) {
  char dir[] = "/tmp/locktopus-state-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::vector<std::string> flags = StateDirFlags(dir, 30000);
  {
    ServerProcess server(flags);
    Client c(server, "ns");
    c.Lock({Write({"a"})});
    EXPECT_NE(IdOf(c.Read()), 0u);
    server.Signal(SIGKILL);
    server.WaitExit(seconds(5));
  }
  {
    ServerProcess server(flags);  // in its grace, no lock live
    EXPECT_GE(GraceSeconds(HttpGet(server, "/readyz").body), 25);
    server.Signal(SIGTERM);
    EXPECT_EQ(server.WaitExit(seconds(10)), 0);
    EXPECT_NE(server.Log().find("stopped during the grace"), std::string::npos)
        << server.Log();
  }
  {
    ServerProcess server(flags);  // waits a grace again
    EXPECT_GE(GraceSeconds(HttpGet(server, "/readyz").body), 25);
    Client c(server, "ns");
    c.Lock({Write({"a"})});
    const std::optional<std::string> answer = c.Read();
    EXPECT_EQ(answer, Enqueued(IdOf(answer))) << server.Log();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace locktopus::e2e
