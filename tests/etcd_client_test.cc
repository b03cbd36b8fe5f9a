// The etcd client against real etcd members started on loopback ports
// (tests/e2e/etcd_cluster.h): leases, ranges, transactions, bytes that are
// not text, failover across endpoints, deadlines, and a leader killed under
// a 3-member cluster. Skipped where etcd or node (which starts it) is not
// installed.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>

#include "etcd/client.h"
#include "tests/e2e/etcd_cluster.h"

namespace locktopus::etcd {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Code = Error::Code;
using e2e::EtcdCluster;

// Slack for the executor and a loaded 2-core machine on top of a deadline.
constexpr milliseconds kSlack{250};

milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

std::string Describe(const Error& e) {
  return std::string(ToString(e.code)) + ": " + e.message;
}

// A client on the test's io_context, and calls made synchronous.
class ClientTest : public ::testing::Test {
 protected:
  // Runs the io_context until the call made by `start` completes, and a
  // little after, to see that it completes only once.
  template <class T, class Start>
  Result<T> Await(Start start) {
    struct Outcome {
      std::optional<Result<T>> result;
      int completions = 0;
    };
    auto outcome = std::make_shared<Outcome>();
    start([outcome](Result<T> r) {
      ++outcome->completions;
      outcome->result.emplace(std::move(r));
    });
    ioc_.restart();
    const auto give_up = Clock::now() + std::chrono::seconds(20);
    while (!outcome->result && Clock::now() < give_up) {
      ioc_.run_one_for(milliseconds(100));
    }
    ioc_.restart();
    ioc_.poll();
    EXPECT_EQ(outcome->completions, 1);
    if (!outcome->result) return Error{Code::kCancelled, "test: no answer"};
    return *std::move(outcome->result);
  }

  std::unique_ptr<Client> MakeClient(
      const std::string& urls, milliseconds deadline = milliseconds(1000)) {
    auto endpoints = ParseEndpoints(urls);
    EXPECT_TRUE(endpoints.ok()) << endpoints.error().message;
    return std::make_unique<Client>(ioc_.get_executor(),
                                    std::move(endpoints).value(), deadline);
  }

  Result<LeaseGrantResult> Grant(Client& c, std::int64_t ttl) {
    return Await<LeaseGrantResult>(
        [&](auto done) { c.LeaseGrant(ttl, std::move(done)); });
  }
  Result<LeaseKeepAliveResult> KeepAlive(Client& c, LeaseId lease) {
    return Await<LeaseKeepAliveResult>(
        [&](auto done) { c.LeaseKeepAlive(lease, std::move(done)); });
  }
  Result<LeaseRevokeResult> Revoke(Client& c, LeaseId lease) {
    return Await<LeaseRevokeResult>(
        [&](auto done) { c.LeaseRevoke(lease, std::move(done)); });
  }
  Result<RangeResult> Range(Client& c, RangeRequest r,
                            Client::Deadline deadline = std::nullopt) {
    return Await<RangeResult>(
        [&](auto done) { c.Range(r, std::move(done), deadline); });
  }
  Result<TxnResult> Txn(Client& c, TxnRequest t,
                        Client::Deadline deadline = std::nullopt) {
    return Await<TxnResult>(
        [&](auto done) { c.Txn(t, std::move(done), deadline); });
  }
  // An unconditional put.
  Result<TxnResult> Put(Client& c, std::string key, std::string value,
                        LeaseId lease = 0) {
    return Txn(c,
               {.success = {PutOp{std::move(key), std::move(value), lease}}});
  }

  net::io_context ioc_;
};

// Tests against real members; skipped where etcd or node (which runs the
// cluster harness) is not installed.
class EtcdClientTest : public ClientTest {
 protected:
  void SetUp() override {
    if (!EtcdCluster::Available()) {
      GTEST_SKIP() << EtcdCluster::Binary()
                   << " or node not found: install etcd-server and node "
                      "(scripts/setup.sh)";
    }
  }
};

// Tests that need no member: what the client does when none answers.
using EtcdClientNoMemberTest = ClientTest;

// A loopback port with nothing listening: connections are refused.
std::uint16_t DeadPort() {
  net::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

std::string Url(std::uint16_t port) {
  return "http://127.0.0.1:" + std::to_string(port);
}

TEST_F(EtcdClientTest, LeaseGrantKeepAliveRevoke) {
  EtcdCluster etcd(1);
  auto client = MakeClient(etcd.ClientUrls());

  auto grant = Grant(*client, 5);
  ASSERT_TRUE(grant.ok()) << Describe(grant.error());
  EXPECT_NE(grant.value().id, 0);
  EXPECT_EQ(grant.value().ttl_seconds, 5);

  auto alive = KeepAlive(*client, grant.value().id);
  ASSERT_TRUE(alive.ok()) << Describe(alive.error());
  EXPECT_EQ(alive.value().ttl_seconds, 5);

  auto revoke = Revoke(*client, grant.value().id);
  ASSERT_TRUE(revoke.ok()) << Describe(revoke.error());

  // Gone: a keep-alive says so (etcd answers 200 without a TTL), and so
  // does a second revoke (404).
  auto again = KeepAlive(*client, grant.value().id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Code::kNotFound) << Describe(again.error());
  auto revoke_again = Revoke(*client, grant.value().id);
  ASSERT_FALSE(revoke_again.ok());
  EXPECT_EQ(revoke_again.error().code, Code::kNotFound)
      << Describe(revoke_again.error());
  EXPECT_NE(revoke_again.error().message.find(etcd.ClientUrl(0).substr(7)),
            std::string::npos)
      << revoke_again.error().message;

  // Revoking deletes the lease's keys at once.
  auto second = Grant(*client, 30);
  ASSERT_TRUE(second.ok()) << Describe(second.error());
  ASSERT_TRUE(Put(*client, "/revoked", "v", second.value().id).ok());
  ASSERT_TRUE(Revoke(*client, second.value().id).ok());
  auto range = Range(*client, {.key = "/revoked"});
  ASSERT_TRUE(range.ok()) << Describe(range.error());
  EXPECT_TRUE(range.value().kvs.empty());
}

TEST_F(EtcdClientTest, KeyWithALeaseDisappearsWhenTheLeaseExpires) {
  EtcdCluster etcd(1);
  auto client = MakeClient(etcd.ClientUrls());

  // etcd raises the TTL to its minimum, 2 s with a 1 s election timeout.
  auto grant = Grant(*client, 1);
  ASSERT_TRUE(grant.ok()) << Describe(grant.error());
  const auto granted = Clock::now();
  const auto ttl = milliseconds(1000 * grant.value().ttl_seconds);
  EXPECT_GE(grant.value().ttl_seconds, 1);
  EXPECT_LE(grant.value().ttl_seconds, 2);
  const LeaseId lease = grant.value().id;

  auto put = Put(*client, "/expiring", "v", lease);
  ASSERT_TRUE(put.ok()) << Describe(put.error());
  auto range = Range(*client, {.key = "/expiring"});
  ASSERT_TRUE(range.ok()) << Describe(range.error());
  ASSERT_EQ(range.value().kvs.size(), 1u);
  EXPECT_EQ(range.value().kvs[0].lease, lease);

  // No keep-alive: the key goes when the lease does, not before its TTL.
  std::optional<milliseconds> gone;
  while (!gone && Since(granted) < ttl + std::chrono::seconds(5)) {
    std::this_thread::sleep_for(milliseconds(50));
    auto r = Range(*client, {.key = "/expiring"});
    ASSERT_TRUE(r.ok()) << Describe(r.error());
    if (r.value().kvs.empty()) gone = Since(granted);
  }
  ASSERT_TRUE(gone.has_value()) << "the key outlived its lease by 5 s";
  EXPECT_GE(*gone, ttl - milliseconds(100));
  std::cout << "lease of " << ttl.count() << " ms: key gone after "
            << gone->count() << " ms\n";

  auto alive = KeepAlive(*client, lease);
  ASSERT_FALSE(alive.ok());
  EXPECT_EQ(alive.error().code, Code::kNotFound) << Describe(alive.error());
  // A put with the expired lease is refused, and nothing of its txn runs.
  auto late =
      Txn(*client,
          {.success = {PutOp{"/other", "v"}, PutOp{"/expiring", "v", lease}}});
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, Code::kNotFound) << Describe(late.error());
  auto other = Range(*client, {.key = "/other"});
  ASSERT_TRUE(other.ok()) << Describe(other.error());
  EXPECT_TRUE(other.value().kvs.empty());
}

TEST_F(EtcdClientTest, RangeByPrefixSortedByCreateRevisionWithLimit) {
  EtcdCluster etcd(1);
  auto client = MakeClient(etcd.ClientUrls());
  // Created in an order that is not the keys' order; /p and /q/ outside.
  for (const char* key : {"/p/c", "/p/a", "/q/x", "/p", "/p/b"}) {
    ASSERT_TRUE(Put(*client, key, std::string("v") + key).ok()) << key;
  }
  ASSERT_TRUE(Put(*client, "/p/c", "again").ok());  // keeps its creation

  RangeRequest oldest{.key = "/p/",
                      .range_end = PrefixEnd("/p/"),
                      .sort = RangeRequest::Sort::kByCreateRevision,
                      .limit = 2};
  auto r = Range(*client, oldest);
  ASSERT_TRUE(r.ok()) << Describe(r.error());
  ASSERT_EQ(r.value().kvs.size(), 2u);
  EXPECT_EQ(r.value().kvs[0].key, "/p/c");
  EXPECT_EQ(r.value().kvs[0].value, "again");
  EXPECT_EQ(r.value().kvs[0].version, 2);
  EXPECT_LT(r.value().kvs[0].create_revision, r.value().kvs[0].mod_revision);
  EXPECT_EQ(r.value().kvs[1].key, "/p/a");
  EXPECT_LT(r.value().kvs[0].create_revision, r.value().kvs[1].create_revision);
  EXPECT_EQ(r.value().count, 3);
  EXPECT_TRUE(r.value().more);
  EXPECT_EQ(r.value().header.revision, r.value().kvs[0].mod_revision);

  // By key, no limit; and the same from the member's own copy.
  for (bool serializable : {false, true}) {
    auto all = Range(*client, {.key = "/p/",
                               .range_end = PrefixEnd("/p/"),
                               .serializable = serializable});
    ASSERT_TRUE(all.ok()) << Describe(all.error());
    ASSERT_EQ(all.value().kvs.size(), 3u);
    EXPECT_EQ(all.value().kvs[0].key, "/p/a");
    EXPECT_EQ(all.value().kvs[1].key, "/p/b");
    EXPECT_EQ(all.value().kvs[2].key, "/p/c");
    EXPECT_FALSE(all.value().more);
  }
}

TEST_F(EtcdClientTest, TxnGuardedOnCreateRevision) {
  EtcdCluster etcd(1);
  auto client = MakeClient(etcd.ClientUrls());
  auto grant = Grant(*client, 30);
  ASSERT_TRUE(grant.ok()) << Describe(grant.error());
  const LeaseId lease = grant.value().id;

  // The election's write: create the key if nobody has, else read it.
  auto claim = [&](const std::string& who) {
    return Txn(*client, {.compare = {Compare::CreateRevision(
                             "/leader", Compare::Op::kEqual, 0)},
                         .success = {PutOp{"/leader", who, lease}},
                         .failure = {RangeRequest{.key = "/leader"}}});
  };
  auto first = claim("a");
  ASSERT_TRUE(first.ok()) << Describe(first.error());
  EXPECT_TRUE(first.value().succeeded);
  EXPECT_TRUE(first.value().ranges.empty());
  const std::int64_t created = first.value().header.revision;

  // Not succeeding is a result, with the failure branch's range.
  auto second = claim("b");
  ASSERT_TRUE(second.ok()) << Describe(second.error());
  EXPECT_FALSE(second.value().succeeded);
  ASSERT_EQ(second.value().ranges.size(), 1u);
  ASSERT_EQ(second.value().ranges[0].kvs.size(), 1u);
  const KeyValue& held = second.value().ranges[0].kvs[0];
  EXPECT_EQ(held.value, "a");
  EXPECT_EQ(held.lease, lease);
  EXPECT_EQ(held.create_revision, created);

  // The other targets and operators.
  using Op = Compare::Op;
  struct Case {
    Compare compare;
    bool holds;
  };
  const Case cases[] = {
      {Compare::CreateRevision("/leader", Op::kEqual, created), true},
      {Compare::CreateRevision("/leader", Op::kNotEqual, created), false},
      {Compare::ModRevision("/leader", Op::kGreater, created - 1), true},
      {Compare::ModRevision("/leader", Op::kLess, created), false},
      {Compare::Version("/leader", Op::kEqual, 1), true},
      {Compare::Version("/leader", Op::kGreater, 1), false},
      {Compare::Value("/leader", Op::kEqual, "a"), true},
      {Compare::Value("/leader", Op::kNotEqual, "a"), false},
      {Compare::Value("/leader", Op::kLess, "b"), true},
  };
  for (const Case& c : cases) {
    auto t = Txn(*client, {.compare = {c.compare}});
    ASSERT_TRUE(t.ok()) << Describe(t.error());
    EXPECT_EQ(t.value().succeeded, c.holds)
        << static_cast<int>(c.compare.target) << " "
        << static_cast<int>(c.compare.op);
  }

  // Resigning: delete only while the key is still the one we created.
  auto resign =
      Txn(*client,
          {.compare = {Compare::CreateRevision("/leader", Op::kEqual, created)},
           .success = {DeleteOp{.key = "/leader"}}});
  ASSERT_TRUE(resign.ok()) << Describe(resign.error());
  EXPECT_TRUE(resign.value().succeeded);
  auto after = claim("b");
  ASSERT_TRUE(after.ok()) << Describe(after.error());
  EXPECT_TRUE(after.value().succeeded);
}

TEST_F(EtcdClientTest, KeysAndValuesAreArbitraryBytes) {
  EtcdCluster etcd(1);
  auto client = MakeClient(etcd.ClientUrls());
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  const std::string prefix("\x00\xff/", 3);
  const std::string key = prefix + std::string("k\x00\xfe\x80", 4);
  const std::string empty_value_key = prefix + "empty";

  ASSERT_TRUE(Put(*client, key, all).ok());
  ASSERT_TRUE(Put(*client, empty_value_key, "").ok());
  auto r = Range(*client, {.key = prefix, .range_end = PrefixEnd(prefix)});
  ASSERT_TRUE(r.ok()) << Describe(r.error());
  ASSERT_EQ(r.value().kvs.size(), 2u);
  EXPECT_EQ(r.value().kvs[0].key, empty_value_key);
  EXPECT_EQ(r.value().kvs[0].value, "");
  EXPECT_EQ(r.value().kvs[1].key, key);
  EXPECT_EQ(r.value().kvs[1].value, all);

  auto t = Txn(*client,
               {.compare = {Compare::Value(key, Compare::Op::kEqual, all)}});
  ASSERT_TRUE(t.ok()) << Describe(t.error());
  EXPECT_TRUE(t.value().succeeded);
}

TEST_F(EtcdClientTest, FailsOverPastADeadEndpointAndNamesEveryOne) {
  EtcdCluster etcd(1);
  const std::uint16_t dead = DeadPort();
  auto client = MakeClient(Url(dead) + "," + etcd.ClientUrls());
  auto grant = Grant(*client, 5);
  ASSERT_TRUE(grant.ok()) << Describe(grant.error());
  EXPECT_EQ(client->current_endpoint().port, etcd.client_port(0));

  // A host name is resolved at each attempt.
  auto named =
      MakeClient("http://localhost:" + std::to_string(etcd.client_port(0)));
  auto alive = Await<LeaseKeepAliveResult>([&](auto done) {
    named->LeaseKeepAlive(grant.value().id, std::move(done));
  });
  ASSERT_TRUE(alive.ok()) << Describe(alive.error());

  const std::uint16_t dead2 = DeadPort();
  auto none = MakeClient(Url(dead) + "," + Url(dead2));
  const auto start = Clock::now();
  auto r = Range(*none, {.key = "k"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_EQ(r.error().message,
            "etcd 127.0.0.1:" + std::to_string(dead) +
                ": connection refused; 127.0.0.1:" + std::to_string(dead2) +
                ": connection refused");
  EXPECT_LT(Since(start), milliseconds(500));  // refusals are immediate
}

TEST_F(EtcdClientNoMemberTest,
       AnEndpointThatNeverAnswersEndsTheCallAtItsDeadline) {
  // Listening, never accepted nor read: the kernel completes connections
  // and takes the request, and no answer ever comes.
  tcp::acceptor silent(ioc_,
                       tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const std::uint16_t port = silent.local_endpoint().port();
  auto client = MakeClient(Url(port), milliseconds(300));

  auto start = Clock::now();
  auto r = Range(*client, {.key = "k"});
  const milliseconds took = Since(start);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  // "timeout after 300 ms", or a little less: the time to post the call's
  // start counts against its deadline.
  EXPECT_TRUE(std::regex_match(
      r.error().message,
      std::regex("etcd 127\\.0\\.0\\.1:" + std::to_string(port) +
                 ": timeout after (300|29[0-9]) ms waiting for the answer")))
      << r.error().message;
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, milliseconds(300) + kSlack);

  // A call's own deadline.
  start = Clock::now();
  r = Range(*client, {.key = "k"}, milliseconds(100));
  ASSERT_FALSE(r.ok());
  EXPECT_LT(Since(start), milliseconds(100) + kSlack);
}

TEST_F(EtcdClientTest, ASilentEndpointGetsItsShareAndTheNextCallSkipsIt) {
  EtcdCluster etcd(1);
  tcp::acceptor silent(ioc_,
                       tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  auto client =
      MakeClient(Url(silent.local_endpoint().port()) + "," + etcd.ClientUrls(),
                 milliseconds(600));

  // Two endpoints, 600 ms: the silent one has 300 ms, etcd the rest.
  auto start = Clock::now();
  auto r = Range(*client, {.key = "k"});
  ASSERT_TRUE(r.ok()) << Describe(r.error());
  const milliseconds first = Since(start);
  EXPECT_GE(first, milliseconds(300));
  EXPECT_LT(first, milliseconds(600) + kSlack);

  // The next call starts where the last one succeeded.
  start = Clock::now();
  r = Range(*client, {.key = "k"});
  ASSERT_TRUE(r.ok()) << Describe(r.error());
  EXPECT_LT(Since(start), milliseconds(200));
  EXPECT_EQ(client->current_endpoint().port, etcd.client_port(0));
}

TEST_F(EtcdClientNoMemberTest, DestroyingTheClientCancelsItsCalls) {
  tcp::acceptor silent(ioc_,
                       tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  auto client = MakeClient(Url(silent.local_endpoint().port()));
  const auto start = Clock::now();
  auto r = Await<RangeResult>([&](auto done) {
    client->Range({.key = "k"}, std::move(done));
    // Let the call start and connect, then drop the client.
    ioc_.restart();
    ioc_.run_for(milliseconds(50));
    client.reset();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kCancelled) << Describe(r.error());
  EXPECT_LT(Since(start), milliseconds(500));
}

// A member of another etcd cluster is passed over as a dead one, once a
// member of the client's own has answered: after the only member of the
// first cluster dies, the second cluster's member answers nothing for it
// (its keys and leases are not the client's; the same happens when a
// process takes the port of a member that died).
TEST_F(EtcdClientTest, AMemberOfAnotherClusterIsNotAsked) {
  EtcdCluster ours(1);
  EtcdCluster other(1);
  auto client = MakeClient(ours.ClientUrls() + "," + other.ClientUrls());
  auto grant = Grant(*client, 10);
  ASSERT_TRUE(grant.ok()) << Describe(grant.error());
  ASSERT_EQ(client->current_endpoint().port, ours.client_port(0));
  ASSERT_TRUE(Put(*client, "/ours", "v", grant.value().id).ok());

  ours.Kill(0);
  auto r = Range(*client, {.key = "/ours"});
  ASSERT_FALSE(r.ok()) << "answered by another cluster: "
                       << r.value().kvs.size() << " keys";
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_NE(r.error().message.find(
                "127.0.0.1:" + std::to_string(other.client_port(0)) +
                ": a member of another etcd cluster (id "),
            std::string::npos)
      << r.error().message;

  // A client that first hears from the other cluster takes that one.
  auto theirs = MakeClient(other.ClientUrls());
  EXPECT_TRUE(Range(*theirs, {.key = "/ours"}).ok());
}

TEST_F(EtcdClientTest, KillingTheLeaderOfThreeMembers) {
  EtcdCluster etcd(3);
  const std::optional<int> leader =
      etcd.WaitForLeader(std::chrono::seconds(10));
  ASSERT_TRUE(leader.has_value());
  // The leader first, so that the client is talking to it when it dies.
  std::string urls = etcd.ClientUrl(*leader);
  for (int m = 0; m < etcd.size(); ++m) {
    if (m != *leader) urls += "," + etcd.ClientUrl(m);
  }
  auto client = MakeClient(urls, milliseconds(1000));
  auto grant = Grant(*client, 10);
  ASSERT_TRUE(grant.ok()) << Describe(grant.error());
  ASSERT_TRUE(Put(*client, "/before", "v", grant.value().id).ok());
  ASSERT_EQ(client->current_endpoint().port, etcd.client_port(*leader));

  etcd.Kill(*leader);
  const auto killed = Clock::now();
  // A write every 100 ms until one succeeds: a linearizable write needs
  // the new leader.
  std::optional<milliseconds> recovered;
  std::string failures;  // each failed call, when, and what it said
  while (!recovered && Since(killed) < std::chrono::seconds(10)) {
    auto put = Put(*client, "/after", "v");
    if (put.ok()) {
      recovered = Since(killed);
    } else {
      EXPECT_EQ(put.error().code, Code::kUnavailable) << Describe(put.error());
      failures += "  at " + std::to_string(Since(killed).count()) +
                  " ms: " + put.error().message + "\n";
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  ASSERT_TRUE(recovered.has_value()) << failures;
  std::cout << "leader killed: first write after " << recovered->count()
            << " ms; failed calls before:\n"
            << failures;
  // etcd elects a new leader after 1 to 2 s (the election timeout,
  // randomized up to twice itself), and again after a split vote; the
  // client adds at most one call's deadline.
  EXPECT_LT(*recovered, std::chrono::seconds(6));
  EXPECT_NE(client->current_endpoint().port, etcd.client_port(*leader));

  // Then every call succeeds, the lease survived, and the key with it.
  for (int i = 0; i < 5; ++i) {
    auto r = Range(*client, {.key = "/before"});
    ASSERT_TRUE(r.ok()) << Describe(r.error());
    EXPECT_EQ(r.value().kvs.size(), 1u);
  }
  auto alive = KeepAlive(*client, grant.value().id);
  ASSERT_TRUE(alive.ok()) << Describe(alive.error());

  // One more member gone: no quorum. A linearizable read fails within its
  // deadline (etcd itself would wait 7 s); a serializable one still answers.
  const std::optional<int> second = etcd.WaitForLeader(std::chrono::seconds(5));
  ASSERT_TRUE(second.has_value());
  etcd.Kill(*second);
  auto start = Clock::now();
  auto stale_ok = Range(*client, {.key = "/before", .serializable = true});
  ASSERT_TRUE(stale_ok.ok()) << Describe(stale_ok.error());
  EXPECT_EQ(stale_ok.value().kvs.size(), 1u);
  start = Clock::now();
  auto linear = Range(*client, {.key = "/before"});
  const milliseconds took = Since(start);
  ASSERT_FALSE(linear.ok());
  EXPECT_EQ(linear.error().code, Code::kUnavailable);
  EXPECT_LT(took, milliseconds(1000) + kSlack);
  std::cout << "no quorum: " << linear.error().message << "\n";
}

}  // namespace
}  // namespace locktopus::etcd
