// The HA role logic (server/core/ha/node.h) and the cluster's keys
// (cluster.h) on their own: a Node against an in-memory etcd whose answers
// come on the next turn of a test loop, with a clock that the test moves.
// (The role simulation, simulate/ha/, runs several Nodes with faults.)

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "server/core/ha/cluster.h"
#include "server/core/ha/node.h"

namespace locktopus::server::ha {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

// An in-memory etcd (a fake for this test): every answer is queued for the
// loop, never given inside the call. Leases expire only when told to.
class FakeEtcd final : public Etcd {
 public:
  explicit FakeEtcd(std::deque<std::function<void()>>& loop) : loop_(loop) {}

  void Put(const std::string& key, const std::string& value) {
    history_.emplace_back(key, value);
    auto [at, fresh] = kv_.try_emplace(
        key, KeyValue{.key = key, .value = value, .create_revision = ++rev_});
    if (!fresh) at->second.value = value;
  }
  void Delete(const std::string& key) { kv_.erase(key); }
  // The lease of `key` expires: its keys go, its keep-alives answer false.
  void Expire(const std::string& key) {
    const LeaseId lease = kv_.at(key).lease;
    expired_.push_back(lease);
    DropKeysOf(lease);
  }
  const KeyValue* Find(const std::string& key) const {
    auto it = kv_.find(key);
    return it == kv_.end() ? nullptr : &it->second;
  }

  int lose_writes_ = 0;  // the next guarded writes lose their answer
  std::vector<std::pair<std::string, std::string>> history_;  // every put

  void Grant(std::chrono::seconds, Reply<LeaseId> reply) override {
    Answer(reply, LeaseId{++lease_});
  }
  void KeepAlive(LeaseId lease, Reply<bool> reply) override {
    Answer(reply, std::ranges::find(expired_, lease) == expired_.end());
  }
  void Revoke(LeaseId lease, Reply<bool> reply) override {
    DropKeysOf(lease);
    Answer(reply, true);
  }
  void Create(const std::string& key, const std::string& value, LeaseId lease,
              Reply<KeyValue> reply) override {
    if (!kv_.contains(key)) {
      kv_[key] = KeyValue{.key = key,
                          .value = value,
                          .create_revision = ++rev_,
                          .lease = lease};
    }
    Answer(reply, kv_[key]);
  }
  void First(const std::string& prefix,
             Reply<std::optional<KeyValue>> reply) override {
    std::optional<KeyValue> first;
    for (const auto& [key, kv] : kv_) {
      if (key.starts_with(prefix) &&
          (!first || kv.create_revision < first->create_revision)) {
        first = kv;
      }
    }
    Answer(reply, first);
  }
  void Get(const std::string& key,
           Reply<std::optional<KeyValue>> reply) override {
    const KeyValue* kv = Find(key);
    Answer(reply, kv ? std::optional(*kv) : std::nullopt);
  }
  void List(const std::string& prefix,
            Reply<std::vector<KeyValue>> reply) override {
    std::vector<KeyValue> kvs;
    for (const auto& [key, kv] : kv_) {
      if (key.starts_with(prefix)) kvs.push_back(kv);
    }
    Answer(reply, kvs);
  }
  void Guarded(const std::string& guard, Revision revision, const Write& write,
               Reply<bool> reply) override {
    if (lose_writes_ > 0) {  // written, and the answer lost
      --lose_writes_;
      for (const auto& [key, value] : write.puts) Put(key, value);
      loop_.push_back([reply] {
        reply(Error{Error::Code::kUnavailable, "answer lost"});
      });
      return;
    }
    const KeyValue* kv = Find(guard);
    const bool ok = (kv ? kv->create_revision : 0) == revision;
    if (ok) {
      for (const auto& [key, value] : write.puts) Put(key, value);
      for (const auto& key : write.deletes) Delete(key);
    }
    Answer(reply, ok);
  }

 private:
  void DropKeysOf(LeaseId lease) {
    std::erase_if(kv_,
                  [lease](const auto& e) { return e.second.lease == lease; });
  }
  template <class T>
  void Answer(const Reply<T>& reply, T value) {
    loop_.push_back([reply, value] { reply(value); });
  }
  std::deque<std::function<void()>>& loop_;
  std::map<std::string, KeyValue> kv_;
  Revision rev_ = 100;
  LeaseId lease_ = 0;
  std::vector<LeaseId> expired_;
};

class NodeTest : public ::testing::Test, public NodeIo {
 protected:
  // Runs answers and timers, in time order, for `span` of the test's clock.
  void Run(Clock::duration span) {
    const Time end = now_ + span;
    for (;;) {
      while (!loop_.empty()) {
        auto fn = std::move(loop_.front());
        loop_.pop_front();
        fn();
      }
      auto next = timers_.begin();
      if (next == timers_.end() || next->first > end) break;
      now_ = std::max(now_, next->first);
      auto fn = std::move(next->second);
      timers_.erase(next);
      fn();
    }
    now_ = end;
  }
  void Initialise(const std::vector<std::string>& groups, bool fresh) {
    std::vector<KeyValue> kvs;
    loop_.push_back([] {});
    etcd_.List(std::string(kRoot),
               [&kvs](Result<std::vector<KeyValue>> r) { kvs = r.value(); });
    Run(Clock::duration::zero());
    auto plan = PlanInit(ReadCluster(kvs), groups, system_clock::now(), fresh);
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    for (const auto& [key, value] : plan.value().write.puts) {
      etcd_.Put(key, value);
    }
  }
  std::vector<KeyValue> Keys(const std::string& prefix) {
    std::vector<KeyValue> kvs;
    etcd_.List(prefix,
               [&kvs](Result<std::vector<KeyValue>> r) { kvs = r.value(); });
    Run(Clock::duration::zero());
    return kvs;
  }
  Record RecordOf(const std::string& group) {
    const KeyValue* kv = etcd_.Find(RecordKey(group));
    EXPECT_NE(kv, nullptr) << group;
    return kv ? Decode(kv->value).value_or(Record{}) : Record{};
  }

  // This server starts as a standby behind b, the active of epoch 7, and
  // takes over once b's candidacy goes, reading a record of epoch 7 whose
  // in-sync set `in_sync` gives from our candidacy's revision; HasReplica
  // says yes to `replica`.
  void TakeOverFromEpoch7(
      Node& node,
      const std::function<std::vector<Member>(std::int64_t ours)>& in_sync,
      std::int64_t replica) {
    Initialise({"g"}, /*fresh=*/false);
    etcd_.Put("/locktopus/g/election/0", "b:2");
    node.Start();
    Run(milliseconds(100));
    ASSERT_EQ(role_, Role::kStandby);
    Record g = RecordOf("g");
    g.epoch = 7;
    g.in_sync = in_sync(node.epoch());
    etcd_.Put(RecordKey("g"), Encode(g));
    replica_ = replica;
    etcd_.Delete("/locktopus/g/election/0");
    Run(milliseconds(500));
  }

  // NodeIo.
  Time Now() override { return now_; }
  system_clock::time_point WallNow() override { return wall_; }
  void After(Clock::duration delay, std::function<void()> fn) override {
    timers_.emplace(now_ + delay, std::move(fn));
  }
  void SetIdFloor(LockId floor) override { floor_ = floor; }
  void RoleChanged(Role role, const std::string& why) override {
    role_ = role;
    why_ = why;
  }
  void TookOver(Takeover kind) override { takeovers_.push_back(kind); }
  void Leader(const std::string& name, std::int64_t epoch) override {
    leaders_.emplace_back(name, epoch);
  }
  void Elected() override { events_.push_back("elected"); }
  bool HasReplica(std::int64_t epoch) override {
    events_.push_back("has replica of " + std::to_string(epoch));
    return replica_ == epoch;
  }
  std::string AdoptReplica(milliseconds extend) override {
    events_.push_back(
        "adopt, extend " + std::to_string(extend.count()) + " ms, floor " +
        (floor_ != 0 ? "set" : "unset") + ", gate " +
        (gate_.Decide(now_, floor_ + 1) == GrantGate::Decision::kRefuse
             ? "closed"
             : "open"));
    return {};
  }
  void Fence(const std::string& why) override { fenced_ = why; }
  void Resigned(bool clean) override { resigned_ = clean; }

  std::deque<std::function<void()>> loop_;
  std::multimap<Time, std::function<void()>> timers_;
  Time now_ = Time(std::chrono::hours(1));
  system_clock::time_point wall_ = system_clock::now();
  FakeEtcd etcd_{loop_};
  GrantGate gate_;
  NodeSettings settings_{.group = "g",
                         .groups = "g",
                         .name = "a:1",
                         .ttl = milliseconds(2000),
                         .max_abandon = milliseconds(3000)};
  Role role_ = Role::kStandby;
  std::string why_;
  std::optional<std::string> fenced_;
  std::optional<bool> resigned_;
  std::vector<Takeover> takeovers_;
  std::vector<std::pair<std::string, std::int64_t>> leaders_;
  std::vector<std::string> events_;
  std::int64_t replica_ = -1;  // the epoch HasReplica says yes to
  LockId floor_ = 0;
};

TEST_F(NodeTest, ANewClusterServesAtOnceAboveTheWallClockFloor) {
  Initialise({"g"}, /*fresh=*/true);
  Node node(settings_, etcd_, *this, gate_);
  node.Start();
  Run(milliseconds(500));
  EXPECT_EQ(role_, Role::kServing) << why_;
  EXPECT_GE(floor_,
            WallClockFloor(system_clock::now() - std::chrono::hours(1)));
  EXPECT_EQ(gate_.Decide(now_, floor_ + 1), GrantGate::Decision::kGrant);
}

TEST_F(NodeTest, AMissingRecordIsNeverTakenForAFreshGroup) {
  Initialise({"g"}, /*fresh=*/true);
  etcd_.Delete(RecordKey("g"));
  Node node(settings_, etcd_, *this, gate_);
  node.Start();
  Run(milliseconds(500));
  ASSERT_TRUE(fenced_);
  EXPECT_NE(fenced_->find("no record of group [g]"), std::string::npos)
      << *fenced_;
  EXPECT_EQ(gate_.Decide(now_, 1), GrantGate::Decision::kRefuse);
}

TEST_F(NodeTest, AnUninitialisedClusterIsRefused) {
  Node node(settings_, etcd_, *this, gate_);
  node.Start();
  Run(milliseconds(500));
  ASSERT_TRUE(fenced_);
  EXPECT_NE(fenced_->find("no shard map in etcd"), std::string::npos)
      << *fenced_;
}

TEST_F(NodeTest, AnotherShardMapIsRefused) {
  Initialise({"g", "h"}, /*fresh=*/true);
  Node node(settings_, etcd_, *this, gate_);  // --ha-groups g
  node.Start();
  Run(milliseconds(500));
  ASSERT_TRUE(fenced_);
  EXPECT_NE(fenced_->find("the shard map in etcd [g,h] is not this server's "
                          "--ha-groups [g]"),
            std::string::npos)
      << *fenced_;
}

// Another group's ceiling does not ratchet this one's (a changed map is
// --ha-init's to fold, PlanInit below): takeovers across many groups would
// otherwise push every ceiling ahead of the wall-clock floor.
TEST_F(NodeTest, AnotherGroupsCeilingDoesNotRatchetThisOne) {
  Initialise({"g", "h"}, /*fresh=*/true);
  const LockId own = RecordOf("g").ceiling;
  Record h = RecordOf("h");
  h.ceiling += LockId{1} << 40;
  etcd_.Put(RecordKey("h"), Encode(h));
  settings_.groups = "g,h";
  Node node(settings_, etcd_, *this, gate_);
  node.Start();
  Run(milliseconds(500));
  EXPECT_EQ(role_, Role::kServing) << why_;
  EXPECT_EQ(floor_, std::max(own, WallClockFloor(wall_)));
  EXPECT_LT(floor_, h.ceiling);
}

// etcd restored from an old snapshot brings back a lower ceiling: the
// wall-clock floor still keeps IDs above what was issued since.
TEST_F(NodeTest, ARolledBackCeilingStillStartsAboveTheWallClockFloor) {
  Initialise({"g"}, /*fresh=*/true);
  Record g = RecordOf("g");
  g.ceiling = 5;
  etcd_.Put(RecordKey("g"), Encode(g));
  Node node(settings_, etcd_, *this, gate_);
  node.Start();
  Run(milliseconds(500));
  EXPECT_EQ(role_, Role::kServing) << why_;
  EXPECT_EQ(floor_, WallClockFloor(wall_));
  EXPECT_EQ(RecordOf("g").ceiling, floor_ + settings_.id_block);
}

TEST_F(NodeTest, AnUncleanRecordMeansAGrace) {
  Initialise({"g"}, /*fresh=*/false);
  Node node(settings_, etcd_, *this, gate_);
  node.Start();
  Run(milliseconds(500));
  EXPECT_EQ(role_, Role::kGrace) << why_;
  EXPECT_NE(why_.find("grace 5000 ms"), std::string::npos) << why_;
}

// The active is the configuration of its epoch: the record names it, by its
// candidacy, as the one server holding every lock its clients were told of,
// and keeps saying so as the ceiling rises.
TEST_F(NodeTest, TheActiveWritesItselfAsTheInSyncSet) {
  Initialise({"g"}, /*fresh=*/true);
  Node node(settings_, etcd_, *this, gate_);
  node.Start();
  Run(milliseconds(500));
  ASSERT_EQ(role_, Role::kServing) << why_;
  EXPECT_EQ(takeovers_, std::vector<Takeover>{Takeover::kClean});
  const Record record = RecordOf("g");
  const std::vector<Member> us = {{.name = "a:1", .revision = node.epoch()}};
  EXPECT_EQ(record.epoch, node.epoch());
  EXPECT_EQ(record.in_sync, us);
  EXPECT_EQ(record.version, 0u);
  node.RaiseCeiling();
  Run(milliseconds(500));
  EXPECT_GT(RecordOf("g").ceiling, record.ceiling);
  EXPECT_EQ(RecordOf("g").in_sync, us);
}

// Not in the in-sync set of the record's epoch: none of the old locks is
// ours, so the grace covers them, and the log and /metrics say degraded.
TEST_F(NodeTest, ATakeoverOutsideTheInSyncSetIsDegraded) {
  Initialise({"g"}, /*fresh=*/false);
  Record g = RecordOf("g");
  g.epoch = 7;
  g.in_sync = {{.name = "b:2", .revision = 7}};
  g.version = 3;
  etcd_.Put(RecordKey("g"), Encode(g));
  Node node(settings_, etcd_, *this, gate_);
  node.Start();
  Run(milliseconds(500));
  EXPECT_EQ(role_, Role::kGrace) << why_;
  EXPECT_EQ(takeovers_, std::vector<Takeover>{Takeover::kDegraded});
  EXPECT_NE(why_.find("degraded takeover: not in the in-sync set of epoch 7 "
                      "[b:2@7], so its locks are gone: grace 5000 ms"),
            std::string::npos)
      << why_;
  EXPECT_EQ(RecordOf("g").in_sync,
            (std::vector<Member>{{.name = "a:1", .revision = node.epoch()}}));
  EXPECT_EQ(RecordOf("g").version, 0u);
}

// A configuration and a raise of the ceiling asked for together are both
// written, one write at a time; every write of a set has a new version,
// even one whose answer was lost.
TEST_F(NodeTest, InSyncSetsAndRaisesAreWrittenInTurnWithNewVersions) {
  Initialise({"g"}, /*fresh=*/true);
  Node node(settings_, etcd_, *this, gate_);
  node.Start();
  Run(milliseconds(500));
  ASSERT_EQ(role_, Role::kServing) << why_;
  const Member us{.name = "a:1", .revision = node.epoch()};
  const Member b{.name = "b:2", .revision = 300};
  const LockId ceiling = RecordOf("g").ceiling;
  std::vector<std::vector<Member>> written;
  auto note = [&written](const std::vector<Member>& m) {
    written.push_back(m);
  };
  node.SetInSync({b}, note);
  node.RaiseCeiling();  // waits for the write in flight
  Run(milliseconds(1));
  EXPECT_EQ(written, (std::vector<std::vector<Member>>{{us, b}}));
  Record record = RecordOf("g");
  EXPECT_EQ(record.in_sync, (std::vector<Member>{us, b}));
  EXPECT_EQ(record.version, 1u);
  EXPECT_EQ(record.ceiling, ceiling + settings_.id_block);
  etcd_.lose_writes_ = 1;
  node.SetInSync({}, note);
  Run(milliseconds(1000));
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[1], std::vector<Member>{us});
  record = RecordOf("g");
  EXPECT_EQ(record.in_sync, std::vector<Member>{us});
  EXPECT_EQ(record.version, 3u);  // the lost answer's write had 2
  EXPECT_EQ(record.ceiling, ceiling + settings_.id_block);
  EXPECT_FALSE(fenced_);
  // No write ever took back another's set or ceiling.
  Record last;
  for (const auto& [key, value] : etcd_.history_) {
    if (key != RecordKey("g")) continue;
    const Record r = Decode(value).value();
    EXPECT_GE(r.version, last.version) << value;
    EXPECT_GE(r.ceiling, last.ceiling) << value;
    last = r;
  }
}

// A configuration that cannot be written because another server leads now:
// fenced, and nobody is told it was written.
TEST_F(NodeTest, AnInSyncSetRefusedByEtcdFences) {
  Initialise({"g"}, /*fresh=*/true);
  Node node(settings_, etcd_, *this, gate_);
  node.Start();
  Run(milliseconds(100));
  ASSERT_EQ(role_, Role::kServing) << why_;
  for (const KeyValue& kv : Keys("/locktopus/g/election/")) {
    etcd_.Delete(kv.key);
  }
  bool told = false;
  node.SetInSync({{.name = "b:2", .revision = 300}},
                 [&told](const std::vector<Member>&) { told = true; });
  Run(milliseconds(1));
  ASSERT_TRUE(fenced_);
  EXPECT_NE(fenced_->find("record could not be written"), std::string::npos);
  EXPECT_FALSE(told);
  EXPECT_EQ(gate_.Decide(now_, floor_ + 1), GrantGate::Decision::kRefuse);
}

// In the in-sync set with a whole replica of the record's epoch: the
// replication stops before the record is read, the replica is adopted
// after the takeover's write and before the gate opens, and there is no
// grace. Every window is lengthened by the old active's grant window.
TEST_F(NodeTest, AnInSyncTakeoverAdoptsTheReplicaWithNoGrace) {
  Node node(settings_, etcd_, *this, gate_);
  TakeOverFromEpoch7(
      node,
      [](std::int64_t ours) {
        return std::vector<Member>{{.name = "b:2", .revision = 7},
                                   {.name = "a:1", .revision = ours}};
      },
      7);
  EXPECT_EQ(role_, Role::kServing) << why_;
  EXPECT_EQ(takeovers_, std::vector<Takeover>{Takeover::kInSync});
  EXPECT_NE(why_.find("in-sync takeover, no grace"), std::string::npos) << why_;
  EXPECT_EQ(events_, (std::vector<std::string>{
                         "elected", "has replica of 7",
                         "adopt, extend 1600 ms, floor set, gate closed"}));
  EXPECT_EQ(gate_.Decide(now_, floor_ + 1), GrantGate::Decision::kGrant);
}

// A member whose replica is not whole (it diverged, or followed another
// epoch) takes over degraded, as one outside the set.
TEST_F(NodeTest, AMemberWithoutAWholeReplicaIsDegraded) {
  Node node(settings_, etcd_, *this, gate_);
  TakeOverFromEpoch7(
      node,
      [](std::int64_t ours) {
        return std::vector<Member>{{.name = "a:1", .revision = ours}};
      },
      6);
  EXPECT_EQ(role_, Role::kGrace) << why_;
  EXPECT_EQ(takeovers_, std::vector<Takeover>{Takeover::kDegraded});
  EXPECT_NE(why_.find("but without a whole replica of it"), std::string::npos)
      << why_;
  EXPECT_EQ(std::count(events_.begin(), events_.end(),
                       "adopt, extend 1600 ms, floor set, gate closed"),
            0);
}

// A whole replica of the record's epoch is not enough: a server that the
// record does not name in sync (it was dropped, or its candidacy is a new
// one) may lack what the active told its clients since.
TEST_F(NodeTest, AWholeReplicaOutsideTheInSyncSetIsDegraded) {
  Node node(settings_, etcd_, *this, gate_);
  TakeOverFromEpoch7(
      node,
      [](std::int64_t ours) {  // our candidacy before a restart
        return std::vector<Member>{{.name = "b:2", .revision = 7},
                                   {.name = "a:1", .revision = ours - 1}};
      },
      7);
  EXPECT_EQ(role_, Role::kGrace) << why_;
  EXPECT_EQ(takeovers_, std::vector<Takeover>{Takeover::kDegraded});
}

// A standby is told whom to follow, once per active.
TEST_F(NodeTest, AStandbyIsToldWhoLeads) {
  Initialise({"g"}, /*fresh=*/true);
  etcd_.Put("/locktopus/g/election/0", "b:2");  // an older candidacy leads
  const Revision b = etcd_.Find("/locktopus/g/election/0")->create_revision;
  Node node(settings_, etcd_, *this, gate_);
  node.Start();
  Run(milliseconds(500));
  EXPECT_EQ(role_, Role::kStandby);
  EXPECT_EQ(leaders_,
            (std::vector<std::pair<std::string, std::int64_t>>{{"b:2", b}}));
  EXPECT_TRUE(events_.empty());
}

// A standby whose lease lapsed campaigns again under a new revision, which
// is a new member to the active: it is told who leads again, so that its
// stream follows under that revision. Under the old one it would stay in
// the in-sync set as a member that no longer exists, and its takeover
// would be degraded.
TEST_F(NodeTest, AStandbyThatCampaignsAgainIsToldWhoLeadsAgain) {
  Initialise({"g"}, /*fresh=*/true);
  etcd_.Put("/locktopus/g/election/0", "b:2");
  const Revision b = etcd_.Find("/locktopus/g/election/0")->create_revision;
  Node node(settings_, etcd_, *this, gate_);
  node.Start();
  Run(milliseconds(500));
  const std::int64_t first = node.epoch();
  ASSERT_EQ(leaders_.size(), 1u);
  for (const KeyValue& kv : Keys("/locktopus/g/election/")) {
    if (kv.create_revision == first) etcd_.Expire(kv.key);
  }
  Run(milliseconds(2000));
  EXPECT_EQ(role_, Role::kStandby);
  EXPECT_GT(node.epoch(), first);
  EXPECT_EQ(leaders_, (std::vector<std::pair<std::string, std::int64_t>>{
                          {"b:2", b}, {"b:2", b}}));
}

// The drain race: "no lock is live" must be asked only once the gate is
// closed, or a grant between the look and the close goes unseen while the
// record says clean.
TEST_F(NodeTest, ResignAsksForLiveLocksOnlyOnceTheGateIsClosed) {
  Initialise({"g"}, /*fresh=*/true);
  Node node(settings_, etcd_, *this, gate_);
  node.Start();
  Run(milliseconds(500));
  ASSERT_EQ(role_, Role::kServing);
  std::optional<GrantGate::Phase> asked_in;
  node.Resign([&] {
    asked_in = gate_.phase();
    return true;
  });
  Run(milliseconds(500));
  ASSERT_TRUE(asked_in);
  EXPECT_EQ(*asked_in, GrantGate::Phase::kClosed);
  EXPECT_EQ(resigned_, true);
  EXPECT_TRUE(RecordOf("g").clean);
}

TEST_F(NodeTest, ALockLiveAfterTheGateClosedMeansNotClean) {
  Initialise({"g"}, /*fresh=*/true);
  Node node(settings_, etcd_, *this, gate_);
  node.Start();
  Run(milliseconds(500));
  node.Resign([] { return false; });
  Run(milliseconds(500));
  EXPECT_EQ(resigned_, false);
  EXPECT_FALSE(RecordOf("g").clean);
}

// ---- --ha-init
// ---------------------------------------------------------------

TEST(PlanInit, RefusesWhileServersCampaign) {
  ClusterView view;
  view.campaigning = {"g"};
  auto plan = PlanInit(view, {"g"}, system_clock::now(), false);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, Error::Code::kRejected);
  EXPECT_EQ(plan.error().message,
            "servers of group [g] are running (their candidacies are in "
            "etcd): stop the group's servers first");
}

TEST(PlanInit, ANewClusterOnlyOnAnEmptyEtcd) {
  ClusterView view;
  view.records["g"] = Record{.ceiling = 5};
  auto plan = PlanInit(view, {"g"}, system_clock::now(), /*fresh=*/true);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message.find("never served"), std::string::npos);
}

TEST(PlanInit, ALostRecordComesBackAboveEverythingAndUnclean) {
  const auto now = system_clock::now();
  ClusterView view;
  view.map = "g,h";
  const LockId high = WallClockFloor(now) + 12345;
  view.records["h"] = Record{.ceiling = high, .clean = true};
  view.campaigning = {"h"};  // h runs on; only g's servers are stopped
  auto planned = PlanInit(view, {"g", "h"}, now, false);
  ASSERT_TRUE(planned.ok()) << planned.error().message;
  const InitPlan& plan = planned.value();
  ASSERT_EQ(plan.write.puts.size(), 1u);  // the map is unchanged, h kept
  EXPECT_EQ(plan.write.puts[0].first, RecordKey("g"));
  EXPECT_EQ(Decode(plan.write.puts[0].second),
            (Record{.ceiling = high, .clean = false}));
}

// A changed map: every record rises to the highest ceiling (a namespace
// that moves keeps its IDs going up), with the longest window and abandon
// timeout (its old holders are covered by the grace), and not clean.
TEST(PlanInit, AChangedMapRaisesEveryCeilingToTheHighest) {
  const auto now = system_clock::now();
  const LockId high = WallClockFloor(now) + (LockId{1} << 30);
  ClusterView view;
  view.map = "g,h";
  view.map_revision = 7;
  view.records["g"] = Record{.ceiling = 9, .clean = true, .window_ms = 100};
  view.records["h"] = Record{.ceiling = high, .abandon_ms = 5000};
  auto planned = PlanInit(view, {"h", "g", "k"}, now, false);
  ASSERT_TRUE(planned.ok()) << planned.error().message;
  const InitPlan& plan = planned.value();
  EXPECT_EQ(plan.guard, 7);
  std::map<std::string, std::string> puts(plan.write.puts.begin(),
                                          plan.write.puts.end());
  EXPECT_EQ(puts[MapKey()], "h,g,k");
  const Record folded{.ceiling = high, .window_ms = 100, .abandon_ms = 5000};
  EXPECT_EQ(Decode(puts[RecordKey("g")]), folded);
  EXPECT_EQ(Decode(puts[RecordKey("h")]), folded);
  EXPECT_EQ(Decode(puts[RecordKey("k")]), folded);
}

// Records written before there was a map (an upgrade): a first map may
// order the groups otherwise, so it is a move too.
TEST(PlanInit, AFirstMapOverOldRecordsMovesNamespaces) {
  ClusterView view;
  view.records["g"] = Record{.ceiling = 9, .clean = true};
  view.campaigning = {"g"};
  auto refused = PlanInit(view, {"g"}, system_clock::now(), false);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("every server"), std::string::npos);
  view.campaigning.clear();
  auto planned = PlanInit(view, {"g"}, system_clock::now(), false);
  ASSERT_TRUE(planned.ok()) << planned.error().message;
  bool written = false;
  for (const auto& [key, value] : planned.value().write.puts) {
    if (key != RecordKey("g")) continue;
    written = true;
    EXPECT_FALSE(Decode(value)->clean);
  }
  EXPECT_TRUE(written);
}

// Every --ha-init takes a stopped group's clean mark away (a restored
// snapshot brings back old ones); a running group keeps its record.
TEST(PlanInit, StoppedGroupsLoseTheirCleanMarkRunningOnesKeepTheirRecord) {
  ClusterView view;
  view.map = "g,h";
  view.records["g"] = Record{.ceiling = 9, .clean = true};
  view.records["h"] = Record{.ceiling = 11, .clean = true};
  view.campaigning = {"h"};
  auto planned = PlanInit(view, {"g", "h"}, system_clock::now(), false);
  ASSERT_TRUE(planned.ok()) << planned.error().message;
  const auto& puts = planned.value().write.puts;
  ASSERT_EQ(puts.size(), 1u);
  EXPECT_EQ(puts[0].first, RecordKey("g"));
  EXPECT_EQ(Decode(puts[0].second), (Record{.ceiling = 9}));
}

// A stopped group's servers hold no replica: --ha-init empties its in-sync
// set, and the configuration's version still goes up.
TEST(PlanInit, StoppedGroupsLoseTheirInSyncSet) {
  ClusterView view;
  view.map = "g";
  view.records["g"] = Record{.ceiling = 9,
                             .epoch = 4,
                             .in_sync = {{.name = "a:1", .revision = 4}},
                             .version = 2};
  auto planned = PlanInit(view, {"g"}, system_clock::now(), false);
  ASSERT_TRUE(planned.ok()) << planned.error().message;
  const auto& puts = planned.value().write.puts;
  ASSERT_EQ(puts.size(), 1u);
  EXPECT_EQ(Decode(puts[0].second),
            (Record{.ceiling = 9, .epoch = 4, .version = 3}));
}

TEST(RecordCodec, RoundTripsAndReadsARecordWrittenBeforeReplication) {
  const Record record{.ceiling = LockId{1} << 50,
                      .clean = true,
                      .epoch = 41,
                      .window_ms = 1600,
                      .abandon_ms = 60000,
                      .in_sync = {{.name = "10.0.0.1:7001", .revision = 41},
                                  {.name = "10.0.0.2:7001", .revision = 44}},
                      .version = 5};
  EXPECT_EQ(Decode(Encode(record)), record);
  EXPECT_TRUE(record.InSync("10.0.0.2:7001", 44));
  EXPECT_FALSE(record.InSync("10.0.0.2:7001", 45));  // restarted since
  EXPECT_FALSE(record.InSync("10.0.0.3:7001", 44));
  EXPECT_EQ(
      Decode(R"({"ceiling":9,"clean":false,"epoch":3,"window_ms":1,)"
             R"("abandon_ms":2})"),
      (Record{.ceiling = 9, .epoch = 3, .window_ms = 1, .abandon_ms = 2}));
}

TEST(RecordCodec, AMalformedConfigurationIsAnError) {
  const std::string head =
      R"({"ceiling":9,"clean":false,"epoch":3,"window_ms":1,"abandon_ms":2,)";
  for (const std::string tail : {
           R"("in_sync":[]})",                            // no version
           R"("in_sync":{},"version":1})",                // not a list
           R"("in_sync":[{"name":"a"}],"version":1})",    // no revision
           R"("in_sync":[{"revision":1}],"version":1})",  // no name
           R"("in_sync":[{"name":1,"revision":1}],"version":1})",
           R"("in_sync":[{"name":"a","revision":-1}],"version":1})",
           R"("in_sync":["a"],"version":1})",
           R"("in_sync":[],"version":-1})",
       }) {
    EXPECT_EQ(Decode(head + tail), std::nullopt) << tail;
  }
  EXPECT_NE(Decode(head + R"("in_sync":[],"version":0})"), std::nullopt);
}

TEST(WallClockFloor, CountsFrom2026AndStaysExactInJavaScript) {
  const auto epoch =
      system_clock::time_point(std::chrono::seconds(1'767'225'600));
  EXPECT_EQ(WallClockFloor(epoch), 0u);
  EXPECT_EQ(WallClockFloor(epoch + milliseconds(1)), 2048u);
  // 2126-01-01: still below 2^53.
  EXPECT_LT(WallClockFloor(epoch + std::chrono::hours(24 * 36525)),
            LockId{1} << 53);
}

}  // namespace
}  // namespace locktopus::server::ha
