#include "server/net/ha.h"

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/post.hpp>

#include "etcd/client.h"
#include "server/core/adopt.h"
#include "server/core/ha/cluster.h"
#include "server/core/ha/node.h"
#include "server/core/ha/standalone.h"
#include "server/core/ha/state_dir.h"
#include "server/core/log.h"
#include "server/net/replication.h"
#include "server/net/streams.h"

namespace locktopus::server {
namespace {

// The TTL must cover an etcd leader election (one to two election timeouts)
// inside the grant window (0.8 TTL), with a confirmation to spare.
constexpr std::uint64_t kTtlOverElection = 3;
constexpr std::uint64_t kEtcdDefaultElectionMs = 1000;

using ha::Reply;

// The group's peer token opens /replicate_v1, which carries every session's
// secret: a guessable one would hand them out.
constexpr std::size_t kMinPeerTokenBytes = 32;

// The role logic's view of etcd (core/ha/etcd.h) over the gateway client:
// its calls as ranges and transactions, a lease that is gone as false.
// Values and errors pass through as the client gives them.
class GatewayEtcd final : public ha::Etcd {
 public:
  GatewayEtcd(net::any_io_executor executor,
              std::vector<etcd::Endpoint> endpoints,
              std::chrono::milliseconds deadline)
      : client_(std::move(executor), std::move(endpoints), deadline) {}

  void Grant(std::chrono::seconds ttl, Reply<ha::LeaseId> reply) override {
    client_.LeaseGrant(ttl.count(), [reply](Result<etcd::LeaseGrantResult> r) {
      if (!r.ok()) return reply(r.error());
      reply(r.value().id);
    });
  }

  void KeepAlive(ha::LeaseId lease, Reply<bool> reply) override {
    client_.LeaseKeepAlive(lease,
                           [reply](Result<etcd::LeaseKeepAliveResult> r) {
                             if (r.ok()) return reply(true);
                             if (Gone(r.error())) return reply(false);
                             reply(r.error());
                           });
  }

  void Revoke(ha::LeaseId lease, Reply<bool> reply) override {
    client_.LeaseRevoke(lease, [reply](Result<etcd::LeaseRevokeResult> r) {
      if (r.ok()) return reply(true);
      if (Gone(r.error())) return reply(false);
      reply(r.error());
    });
  }

  void Create(const std::string& key, const std::string& value,
              ha::LeaseId lease, Reply<ha::KeyValue> reply) override {
    // Put unless it exists; either way, read it back in the same revision.
    etcd::TxnRequest txn{
        .compare = {etcd::Compare::CreateRevision(
            key, etcd::Compare::Op::kEqual, 0)},
        .success = {etcd::PutOp{.key = key, .value = value, .lease = lease},
                    etcd::RangeRequest{.key = key}},
        .failure = {etcd::RangeRequest{.key = key}}};
    client_.Txn(std::move(txn), [reply, key](Result<etcd::TxnResult> r) {
      if (!r.ok()) return reply(r.error());
      const auto& ranges = r.value().ranges;
      if (ranges.empty() || ranges.back().kvs.empty()) {
        return reply(Error{
            Error::Code::kUnavailable,
            "etcd: the key " + key + " is gone right after its creation"});
      }
      reply(ranges.back().kvs.front());
    });
  }

  void First(const std::string& prefix,
             Reply<std::optional<ha::KeyValue>> reply) override {
    client_.Range({.key = prefix,
                   .range_end = etcd::PrefixEnd(prefix),
                   .sort = etcd::RangeRequest::Sort::kByCreateRevision,
                   .limit = 1},
                  [reply](Result<etcd::RangeResult> r) { Answer(r, reply); });
  }

  void Get(const std::string& key,
           Reply<std::optional<ha::KeyValue>> reply) override {
    client_.Range({.key = key},
                  [reply](Result<etcd::RangeResult> r) { Answer(r, reply); });
  }

  void List(const std::string& prefix,
            Reply<std::vector<ha::KeyValue>> reply) override {
    client_.Range({.key = prefix, .range_end = etcd::PrefixEnd(prefix)},
                  [reply](Result<etcd::RangeResult> r) {
                    if (!r.ok()) return reply(r.error());
                    reply(std::move(r).value().kvs);
                  });
  }

  void Guarded(const std::string& guard, ha::Revision revision,
               const ha::Write& write, Reply<bool> reply) override {
    etcd::TxnRequest txn{.compare = {etcd::Compare::CreateRevision(
                             guard, etcd::Compare::Op::kEqual, revision)}};
    for (const auto& [key, value] : write.puts) {
      txn.success.push_back(etcd::PutOp{.key = key, .value = value});
    }
    for (const std::string& key : write.deletes) {
      txn.success.push_back(etcd::DeleteOp{.key = key});
    }
    client_.Txn(std::move(txn), [reply](Result<etcd::TxnResult> r) {
      if (!r.ok()) return reply(r.error());
      reply(r.value().succeeded);
    });
  }

 private:
  static bool Gone(const Error& error) {
    return error.code == Error::Code::kNotFound;
  }
  static void Answer(const Result<etcd::RangeResult>& r,
                     const Reply<std::optional<ha::KeyValue>>& reply) {
    if (!r.ok()) return reply(r.error());
    if (r.value().kvs.empty()) return reply(std::nullopt);
    reply(r.value().kvs.front());
  }

  etcd::Client client_;
};

}  // namespace

// IDs reserved per raise of a standalone server's durable ceiling
// (--state-dir): so many that a raise, asked for half a block ahead, is
// never late.
constexpr LockId kStateDirIdBlock = LockId{1} << 32;

class RoleDriver::Impl final : public ha::NodeIo {
 public:
  Impl(net::io_context& ioc, std::shared_ptr<ServerState> state,
       std::string log_prefix, Events events)
      : state_(std::move(state)),
        strand_(net::make_strand(ioc)),
        log_prefix_(std::move(log_prefix)),
        events_(std::move(events)) {
    state_->gate = std::make_unique<ha::GrantGate>();
    state_->gate->OnRaise(
        [this] { net::post(strand_, [this] { role_->RaiseCeiling(); }); });
  }

  // HA: the role logic over etcd's gateway.
  void RunNode(ha::NodeSettings settings,
               std::vector<etcd::Endpoint> endpoints) {
    etcd_ = std::make_unique<GatewayEtcd>(
        strand_, std::move(endpoints),
        std::max(std::chrono::milliseconds(500), settings.ttl / 3));
    if (state_->config.replicates()) {
      replication_ =
          MakeReplication(strand_, state_, settings.name, log_prefix_);
      state_->replication = replication_;
    }
    auto node = std::make_unique<ha::Node>(std::move(settings), *etcd_, *this,
                                           *state_->gate);
    node_ = node.get();
    role_ = std::move(node);
  }
  // --state-dir.
  void RunStandalone(std::unique_ptr<ha::StateDir> dir) {
    role_ = std::make_unique<ha::StandaloneRole>(std::move(dir), *this,
                                                 *state_->gate);
  }

  void Start() { role_->Start(); }
  void Resign() {
    net::post(strand_, [this] {
      role_->Resign(
          [locks = state_->locks] { return locks->LiveLocks() == 0; });
    });
  }

  // NodeIo, on the strand.
  ha::Time Now() override { return ha::Clock::now(); }
  std::chrono::system_clock::time_point WallNow() override {
    return std::chrono::system_clock::now();
  }
  void After(ha::Clock::duration delay, std::function<void()> fn) override {
    // On the HA clock, which counts a suspend (ha/gate.h).
    auto timer =
        std::make_shared<net::basic_waitable_timer<ha::Clock>>(strand_, delay);
    timer->async_wait([timer, fn = std::move(fn)](beast::error_code ec) {
      if (!ec) fn();
    });
  }
  void SetIdFloor(LockId floor) override { state_->locks->SetIdFloor(floor); }
  void RoleChanged(ha::Role role, const std::string& why) override {
    state_->role = role;
    LogInfo(log_prefix_ + std::string(ha::Name(role)) + ": " + why);
    if (!replication_) return;
    if (role == ha::Role::kServing) {
      replication_->Activate(*node_, node_->epoch());
    } else if (role == ha::Role::kFenced || role == ha::Role::kResigned) {
      replication_->Stop();
    }
  }

  // Replication (net/replication.h), HA with a peer token only.
  void Leader(const std::string& name, std::int64_t epoch) override {
    if (!replication_) return;
    replication_->SetRevision(node_->epoch());
    replication_->Follow(name, epoch);
  }
  void Elected() override {
    if (replication_) replication_->Freeze();
  }
  bool HasReplica(std::int64_t epoch) override {
    return replication_ && replication_->Whole(epoch);
  }
  std::string AdoptReplica(std::chrono::milliseconds extend) override {
    const Config& c = state_->config;
    ConnectionConfig config{.limits = c.message_limits,
                            .log_locks = c.log_locks,
                            .draining = &state_->draining,
                            .metrics = &state_->metrics,
                            .gate = state_->gate.get(),
                            .log_clients = c.log_clients};
    auto executor = strand_.get_inner_executor();
    const TimerFn after = [executor](std::chrono::milliseconds delay,
                                     std::function<void()> fn) {
      auto timer = std::make_shared<net::steady_timer>(executor, delay);
      timer->async_wait([timer, fn = std::move(fn)](beast::error_code ec) {
        if (!ec) fn();
      });
    };
    const ha::Replica replica = replication_->Take();
    const Status adopted =
        server::AdoptReplica(replica, extend, *state_->locks,
                             *state_->client_sessions, config, after);
    if (!adopted.ok()) return adopted.error().message;
    LogInfo(log_prefix_ + "adopted the replica: " +
            std::to_string(state_->locks->LiveLocks()) + " live locks, " +
            std::to_string(replica.sessions().size()) +
            " sessions, every window restarted and " +
            std::to_string(extend.count()) + " ms longer");
    return {};
  }
  void TookOver(Takeover kind) override {
    Increment(state_->metrics.takeovers[static_cast<std::size_t>(kind)]);
  }
  void Warn(const std::string& what) override { LogError(log_prefix_ + what); }
  void Fence(const std::string& why) override { events_.fenced(why); }
  void Resigned(bool clean) override { events_.resigned(clean); }

 private:
  const std::shared_ptr<ServerState> state_;
  Strand strand_;
  const std::string log_prefix_;
  const Events events_;
  std::unique_ptr<GatewayEtcd> etcd_;  // HA only
  std::unique_ptr<ha::RoleLogic> role_;
  ha::Node* node_ = nullptr;  // role_, in HA mode
  std::shared_ptr<Replication> replication_;
};

RoleDriver::RoleDriver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RoleDriver::~RoleDriver() = default;

Result<std::unique_ptr<RoleDriver>> RoleDriver::Make(
    net::io_context& ioc, std::shared_ptr<ServerState> state, std::string name,
    Events events) {
  const Config& c = state->config;
  const std::chrono::milliseconds max_abandon(
      c.route_limits.max_abandon_timeout_ms);
  if (!c.ha()) {
    auto opened =
        ha::StateDir::Open(c.state_dir, max_abandon, kStateDirIdBlock);
    if (!opened.ok()) return opened.error();
    auto impl = std::make_unique<Impl>(
        ioc, std::move(state),
        "state dir [" + c.state_dir + "]: ", std::move(events));
    impl->RunStandalone(std::move(opened).value());
    return std::unique_ptr<RoleDriver>(new RoleDriver(std::move(impl)));
  }
  auto endpoints = etcd::ParseEndpoints(c.etcd_endpoints);
  if (!endpoints.ok()) {
    return Error{endpoints.error().code,
                 "--etcd-endpoints: " + endpoints.error().message};
  }
  ha::NodeSettings settings{.group = c.ha_group,
                            .groups = state->shard.Text(),
                            .name = std::move(name),
                            .ttl = std::chrono::milliseconds(c.ha_ttl_ms),
                            .max_abandon = max_abandon};
  if (c.replicates()) {
    auto tokens = ReadTokenFile(c.ha_peer_token_file);
    if (!tokens.ok()) {
      return Error{tokens.error().code,
                   "--ha-peer-token-file: " + tokens.error().message};
    }
    if (tokens.value().size() != 1 ||
        tokens.value().front().size() < kMinPeerTokenBytes) {
      return Error{Error::Code::kInvalidArgument,
                   "--ha-peer-token-file [" + c.ha_peer_token_file +
                       "] must hold one token of at least " +
                       std::to_string(kMinPeerTokenBytes) + " characters"};
    }
    state->peer_token = tokens.value().front();
  }
  auto impl = std::make_unique<Impl>(
      ioc, state, "HA group [" + c.ha_group + "]: ", std::move(events));
  impl->RoleChanged(ha::Role::kStandby,
                    "campaigning in etcd " + c.etcd_endpoints + " (TTL " +
                        std::to_string(c.ha_ttl_ms) + " ms: grant window " +
                        std::to_string(settings.window().count()) +
                        " ms, lease " +
                        std::to_string(settings.lease().count()) + " s)");
  if (c.ha_ttl_ms < kTtlOverElection * kEtcdDefaultElectionMs) {
    LogWarning("HA group [" + c.ha_group + "]: --ha-ttl-ms " +
               std::to_string(c.ha_ttl_ms) + " is below " +
               std::to_string(kTtlOverElection) +
               " x etcd's election timeout (1000 ms by default): a change "
               "of etcd's leader may fence this server; keep the TTL at "
               "least 3 x etcd's --election-timeout");
  }
  impl->RunNode(std::move(settings), std::move(endpoints).value());
  return std::unique_ptr<RoleDriver>(new RoleDriver(std::move(impl)));
}

void RoleDriver::Start() { impl_->Start(); }
void RoleDriver::Resign() { impl_->Resign(); }

int RoleDriver::Init(const Config& c) {
  auto endpoints = etcd::ParseEndpoints(c.etcd_endpoints);
  if (!endpoints.ok()) {
    LogError("cannot initialise: --etcd-endpoints: " +
             endpoints.error().message);
    return 1;
  }
  const auto map = ShardMap::Make(c.ha_groups, c.ha_group);
  const std::vector<std::string> groups = map.value().groups();
  net::io_context ioc;
  GatewayEtcd etcd(ioc.get_executor(), std::move(endpoints).value(),
                   std::chrono::milliseconds(5000));
  int code = 1;
  etcd.List(
      std::string(ha::kRoot), [&](Result<std::vector<ha::KeyValue>> listed) {
        if (!listed.ok()) {
          return LogError("cannot initialise: " + listed.error().message);
        }
        const ha::ClusterView view = ha::ReadCluster(listed.value());
        auto planned = ha::PlanInit(
            view, groups, std::chrono::system_clock::now(), c.ha_new_cluster);
        if (!planned.ok()) {
          return LogError("cannot initialise: " + planned.error().message);
        }
        const ha::InitPlan plan = std::move(planned).value();
        etcd.Guarded(
            ha::MapKey(), plan.guard, plan.write,
            [&code, plan](Result<bool> done) {
              if (!done.ok()) {
                return LogError("cannot initialise: " + done.error().message);
              }
              if (!done.value()) {
                return LogError(
                    "cannot initialise: the shard map changed meanwhile "
                    "(another --ha-init?); run it again");
              }
              LogInfo("initialised: " + plan.summary);
              code = 0;
            });
      });
  ioc.run();
  return code;
}

}  // namespace locktopus::server
