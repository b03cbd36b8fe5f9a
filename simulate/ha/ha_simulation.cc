#include "simulate/ha/ha_simulation.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <sstream>
#include <vector>

#include "server/core/ha/cluster.h"
#include "server/core/ha/etcd.h"
#include "server/core/ha/gate.h"
#include "server/core/ha/node.h"
#include "server/core/ha/record.h"
#include "simulate/ha/fake_etcd.h"
#include "util/result.h"

namespace locktopus::simulate {
namespace {

using server::ha::Clock;
using server::ha::GrantGate;
using server::ha::Node;
using server::ha::NodeIo;
using server::ha::NodeSettings;
using server::ha::Reply;
using server::ha::Role;
using server::ha::Time;

constexpr Us kClientTimeout = 1 * kS;

// ---- the world ------------------------------------------------------------

class World;

// One life of one server: a process, from its start to its crash, fence or
// resignation. A restarted server is a new Process.
class Process final : public NodeIo, public server::ha::Etcd {
 public:
  Process(World& world, int server, int life, const NodeSettings& settings,
          double rate, Us offset);

  // NodeIo.
  Time Now() override;
  std::chrono::system_clock::time_point WallNow() override;
  void After(Clock::duration delay, std::function<void()> fn) override;
  void SetIdFloor(LockId floor) override {
    next_id_ = std::max(next_id_, floor);
  }
  void RoleChanged(Role role, const std::string& why) override;
  void Fence(const std::string& why) override;
  void Resigned(bool clean) override;

  // Etcd.
  void Grant(std::chrono::seconds ttl, Reply<LeaseId> reply) override;
  void KeepAlive(LeaseId lease, Reply<bool> reply) override;
  void Revoke(LeaseId lease, Reply<bool> reply) override;
  void Create(const std::string& key, const std::string& value, LeaseId lease,
              Reply<KeyValue> reply) override;
  void First(const std::string& prefix,
             Reply<std::optional<KeyValue>> reply) override;
  void Get(const std::string& key,
           Reply<std::optional<KeyValue>> reply) override;
  void List(const std::string& prefix,
            Reply<std::vector<KeyValue>> reply) override;
  void Guarded(const std::string& guard, Revision revision, const Write& write,
               Reply<bool> reply) override;

  // Runs `fn` at real time `when` if this life still runs then; while it is
  // paused, when the pause ends.
  void Deliver(Us when, std::function<void()> fn);

  // A drain found no lock held: resign, clean if still none is held once
  // the gate has closed.
  void Resign() {
    node.Resign([this] { return held == 0; });
  }

  // Its clients' lock requests, one every few milliseconds.
  void Clients();
  void Announce(LockId id);

  // The clock stood still for `real` of real time (a suspend it did not
  // count): from now on it reads that much less.
  void ClockStopped(Us real) {
    offset_ -= static_cast<Us>(std::floor(static_cast<double>(real) * rate_));
  }

  // Local clock <-> real time.
  // Monotone both ways: Local(t) >= x exactly when t >= Real(x).
  Us Local(Us real) const {
    return offset_ +
           static_cast<Us>(std::floor(static_cast<double>(real) * rate_));
  }
  Us Real(Time local) const {
    const Us us = std::chrono::duration_cast<std::chrono::microseconds>(
                      local.time_since_epoch())
                      .count();
    return static_cast<Us>(
        std::ceil(static_cast<double>(us - offset_) / rate_));
  }

  const int server;
  const int life;
  World& world;
  GrantGate gate;
  Node node;
  Role role = Role::kStandby;
  bool stopped = false;  // crashed, fenced or resigned
  Us paused_until = 0;
  Us partitioned_until = 0;  // cut off from etcd until
  Us slow_next = 0;          // the next request is this much slower
  // When its gate could first grant, and when it stopped.
  std::optional<Us> could_grant_from;
  std::optional<Us> stopped_at;
  // Its clients' locks held now; at its stop, whether any was.
  int held = 0;
  bool held_at_stop = false;
  bool draining = false;  // a clean shutdown: no new locks, then resign

 private:
  template <class T>
  void Call(std::function<Result<T>(FakeEtcd&, Us)> op, const Reply<T>& reply);

  class Waiter final : public locktopus::Waiter {
   public:
    explicit Waiter(Process& p) : p_(p) {}
    void Notify(LockId id) override;

   private:
    Process& p_;
  };

  const double rate_;
  Us offset_;  // moves back after a suspend that stopped the clock
  LockId next_id_ = 0;
  std::shared_ptr<Waiter> waiter_ = std::make_shared<Waiter>(*this);
};

class World {
 public:
  World(const HaConfig& config, std::uint64_t seed)
      : config_(config), rng_(seed) {
    settings_.ttl = std::chrono::milliseconds(config.ttl_ms);
    settings_.max_abandon = std::chrono::milliseconds(config.max_abandon_ms);
    settings_.id_block = config.id_block;
    settings_.group = kGroup;
  }
  static constexpr const char* kGroup = "sim";

  HaOutcome Run();

  Us now() const { return now_; }
  // The wall clock of --ha-init and of every takeover: a fixed date plus
  // the simulated time.
  std::chrono::system_clock::time_point Wall() const {
    return std::chrono::system_clock::time_point(
               std::chrono::seconds(1'796'083'200)) +  // 2026-12-01
           std::chrono::microseconds(now_);
  }
  std::mt19937_64& rng() { return rng_; }
  FakeEtcd& etcd() { return etcd_; }
  bool EtcdDown(Us at) const { return at < etcd_down_until_; }
  const HaConfig& config() const { return config_; }

  void At(Us when, std::function<void()> fn) {
    queue_.push({std::max(when, now_), seq_++, std::move(fn)});
  }
  Us Uniform(Us lo, Us hi) {
    return std::uniform_int_distribution<Us>(lo, hi)(rng_);
  }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  // A network hop: mostly quick, now and then slow.
  Us Hop() {
    return Chance(0.02) ? Uniform(20 * kMs, 300 * kMs) : Uniform(100, 3 * kMs);
  }

  void Log(const std::string& line) {
    std::ostringstream os;
    os << '[' << now_ / 1000 << " ms] " << line;
    log_.push_back(os.str());
    if (log_.size() > 60) log_.pop_front();
    if (config_.verbose) std::printf("%s\n", os.str().c_str());
  }
  void Fail(const std::string& what) {
    if (!failure_.empty()) return;
    failure_ = what;
    Log("FAILED: " + what);
  }

  void Grant(Process& p, LockId id);
  void Stopped(Process& p, bool restart);
  void Restart(int server, Us delay);

  std::string RecordKey() const { return server::ha::RecordKey(kGroup); }

 private:
  struct Event {
    Us when;
    std::uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Event& o) const {
      return std::tie(when, seq) > std::tie(o.when, o.seq);
    }
  };

  void Start(int server);
  void Fault();
  // --ha-init over the etcd as it is now; false if it refused.
  bool Initialise();
  // An operator's procedure after `delay`: stop every server, wait until
  // their candidacies are gone, `change` etcd, run --ha-init, start them.
  void Operate(Us delay, const std::string& what, std::function<void()> change);
  void Reinitialise(std::function<void()> change);
  void Check();
  // When a life could grant, and how long its clients may go on after.
  struct Span {
    Us from = 0;
    Us to = 0;
    Us tail = 0;
  };
  // nullopt if it never could grant.
  std::optional<Span> Authority(const Process& p) const;

  const HaConfig config_;
  NodeSettings settings_;
  std::mt19937_64 rng_;
  Us now_ = 0;
  std::uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
  FakeEtcd etcd_;
  Us etcd_down_until_ = 0;
  std::vector<std::unique_ptr<Process>> lives_;  // every life, ever
  std::vector<Process*> current_;                // by server
  std::vector<int> next_life_;
  std::vector<std::string> groups_{kGroup};  // the shard map
  bool operating_ = false;   // every server stopped by the operator
  LockId ceiling_seen_ = 0;  // the highest ceiling a grant saw recorded
  LockId max_granted_ = 0;
  int max_granted_life_ = -1;
  HaOutcome outcome_;
  std::deque<std::string> log_;
  std::string failure_;
};

// ---- a process --------------------------------------------------------------

Process::Process(World& w, int s, int l, const NodeSettings& settings,
                 double rate, Us offset)
    : server(s),
      life(l),
      world(w),
      node(settings, *this, *this, gate),
      rate_(rate),
      offset_(offset) {
  gate.OnRaise(
      [this] { Deliver(world.now(), [this] { node.RaiseCeiling(); }); });
}

std::chrono::system_clock::time_point Process::WallNow() {
  return world.Wall();
}

Time Process::Now() {
  return Time(std::chrono::microseconds(Local(world.now())));
}

void Process::After(Clock::duration delay, std::function<void()> fn) {
  const Us local =
      std::chrono::duration_cast<std::chrono::microseconds>(delay).count();
  Deliver(
      world.now() + static_cast<Us>(std::ceil(
                        static_cast<double>(std::max<Us>(local, 0)) / rate_)),
      std::move(fn));
}

void Process::Deliver(Us when, std::function<void()> fn) {
  world.At(when, [this, fn = std::move(fn)]() mutable {
    if (stopped) return;
    if (world.now() < paused_until) return Deliver(paused_until, std::move(fn));
    fn();
  });
}

void Process::RoleChanged(Role r, const std::string& why) {
  world.Log("server " + std::to_string(server) + "." + std::to_string(life) +
            ": " + std::string(server::ha::Name(r)) + ": " + why);
  // From when its gate could grant: the end of the grace, or at once.
  if (role == Role::kStandby && r == Role::kGrace) {
    could_grant_from = Real(gate.grace_until());
  } else if (role == Role::kStandby && r == Role::kServing) {
    could_grant_from = world.now();
  }
  // Its gate is closed from now on.
  if ((r == Role::kFenced || r == Role::kResigned) && !stopped_at) {
    stopped_at = world.now();
    held_at_stop = held > 0;
  }
  role = r;
}

void Process::Fence(const std::string& why) {
  world.Log("server " + std::to_string(server) + "." + std::to_string(life) +
            " fenced: " + why);
  world.Stopped(*this, /*restart=*/true);
}

void Process::Resigned(bool clean) {
  world.Log("server " + std::to_string(server) + "." + std::to_string(life) +
            (clean ? " resigned cleanly" : " resigned"));
  world.Stopped(*this, /*restart=*/true);
}

void Process::Clients() {
  Deliver(world.now() + world.Uniform(2 * kMs, 20 * kMs), [this] {
    if (server::ha::TakesClients(role) && !draining) {
      const LockId id = ++next_id_;
      Announce(id);
    }
    Clients();
  });
}

// Announced as Connection::MayAnnounce does (GrantGate::Announce), then the
// client starts using its lock.
void Process::Announce(LockId id) {
  if (gate.Announce(Now(), id, waiter_)) world.Grant(*this, id);
}

void Process::Waiter::Notify(LockId id) {
  p_.Deliver(p_.world.now(), [p = &p_, id] { p->Announce(id); });
}

template <class T>
void Process::Call(std::function<Result<T>(FakeEtcd&, Us)> op,
                   const Reply<T>& reply) {
  const Us sent = world.now();
  const Us slow = std::exchange(slow_next, 0);
  auto timeout = [this, sent, reply] {
    Deliver(sent + kClientTimeout, [reply] {
      reply(Error{Error::Code::kUnavailable, "timeout after 1000 ms"});
    });
  };
  if (sent < partitioned_until || world.Chance(0.005)) return timeout();
  const Us processing = sent + world.Hop() + slow;
  world.At(processing, [this, sent, processing, op, reply, timeout] {
    Result<T> result = world.EtcdDown(processing)
                           ? Result<T>(Error{Error::Code::kUnavailable,
                                             "etcdserver: no leader"})
                           : op(world.etcd(), processing);
    const Us back = processing + world.Hop();
    if (back < partitioned_until || world.Chance(0.005) ||
        back > sent + kClientTimeout) {
      return timeout();  // applied, perhaps, but never heard of
    }
    Deliver(back, [reply, result = std::move(result)] { reply(result); });
  });
}

void Process::Grant(std::chrono::seconds ttl, Reply<LeaseId> reply) {
  Call<LeaseId>([=](FakeEtcd& e, Us at) { return e.Grant(at, ttl); }, reply);
}
void Process::KeepAlive(LeaseId lease, Reply<bool> reply) {
  Call<bool>([=](FakeEtcd& e, Us at) { return e.KeepAlive(at, lease); }, reply);
}
void Process::Revoke(LeaseId lease, Reply<bool> reply) {
  Call<bool>([=](FakeEtcd& e, Us at) { return e.Revoke(at, lease); }, reply);
}
void Process::Create(const std::string& key, const std::string& value,
                     LeaseId lease, Reply<KeyValue> reply) {
  Call<KeyValue>(
      [=](FakeEtcd& e, Us at) { return e.Create(at, key, value, lease); },
      reply);
}
void Process::First(const std::string& prefix,
                    Reply<std::optional<KeyValue>> reply) {
  Call<std::optional<KeyValue>>(
      [=](FakeEtcd& e, Us at) { return e.First(at, prefix); }, reply);
}
void Process::Get(const std::string& key,
                  Reply<std::optional<KeyValue>> reply) {
  Call<std::optional<KeyValue>>(
      [=](FakeEtcd& e, Us at) { return e.Get(at, key); }, reply);
}
void Process::List(const std::string& prefix,
                   Reply<std::vector<KeyValue>> reply) {
  Call<std::vector<KeyValue>>(
      [=](FakeEtcd& e, Us at) { return e.List(at, prefix); }, reply);
}
void Process::Guarded(const std::string& guard, Revision revision,
                      const Write& write, Reply<bool> reply) {
  Call<bool>(
      [=](FakeEtcd& e, Us at) { return e.Guarded(at, guard, revision, write); },
      reply);
}

// ---- the round --------------------------------------------------------------

void World::Start(int server) {
  const int life = next_life_[server]++;
  const double drift = config_.drift;
  const double rate =
      1 + std::uniform_real_distribution<double>(-drift, drift)(rng_);
  const Us offset = Uniform(0, 1000 * kS);
  NodeSettings settings = settings_;
  settings.name = "server-" + std::to_string(server);
  for (const std::string& group : groups_) {
    settings.groups += (settings.groups.empty() ? "" : ",") + group;
  }
  lives_.push_back(
      std::make_unique<Process>(*this, server, life, settings, rate, offset));
  Process* p = lives_.back().get();
  current_[server] = p;
  Log("server " + std::to_string(server) + "." + std::to_string(life) +
      " starts (clock rate " + std::to_string(rate) + ")");
  p->Deliver(now_, [p] {
    p->node.Start();
    p->Clients();
  });
}

void World::Stopped(Process& p, bool restart) {
  if (p.stopped) return;
  p.stopped = true;
  if (!p.stopped_at) {
    p.stopped_at = now_;
    p.held_at_stop = p.held > 0;
  }
  if (restart) Restart(p.server, Uniform(100 * kMs, 2 * kS));
}

void World::Restart(int server, Us delay) {
  At(now_ + delay, [this, server] {
    if (current_[server]->stopped && !operating_) Start(server);
  });
}

void World::Grant(Process& p, LockId id) {
  ++outcome_.grants;
  const std::optional<Record> record = etcd_.ReadRecord(now_, RecordKey());
  // A record deleted under a running active: it grants under the ceiling
  // that was durable before.
  if (record) ceiling_seen_ = std::max(ceiling_seen_, record->ceiling);
  const LockId ceiling = record ? record->ceiling : ceiling_seen_;
  if (id <= max_granted_ && max_granted_life_ != p.life * 100 + p.server) {
    Fail("fencing token went back: server " + std::to_string(p.server) + "." +
         std::to_string(p.life) + " granted ID " + std::to_string(id) +
         " after ID " + std::to_string(max_granted_) + " was granted");
  }
  if (id > ceiling) {
    Fail("server " + std::to_string(p.server) + "." + std::to_string(p.life) +
         " granted ID " + std::to_string(id) +
         " above the group's durable ceiling " + std::to_string(ceiling));
  }
  if (id > max_granted_) {
    max_granted_ = id;
    max_granted_life_ = p.life * 100 + p.server;
  }
  if (!p.could_grant_from || now_ < *p.could_grant_from) {
    Fail("server " + std::to_string(p.server) + "." + std::to_string(p.life) +
         " granted before its gate could open");
  }
  // The client holds it a while, then releases it; a drain waits for that.
  ++p.held;
  p.After(std::chrono::milliseconds(Uniform(0, 300)), [&p] {
    if (--p.held == 0 && p.draining) p.Resign();
  });
}

std::optional<World::Span> World::Authority(const Process& p) const {
  if (!p.could_grant_from) return std::nullopt;
  Us to = p.Real(p.gate.grant_until());
  if (p.stopped_at) to = std::min(to, *p.stopped_at);
  if (to < *p.could_grant_from) return std::nullopt;  // stopped in grace
  // Its clients may use their locks an abandon timeout past its end, unless
  // it stopped with none held (a clean shutdown drains them all).
  const bool tail = !p.stopped_at || p.held_at_stop;
  return Span{*p.could_grant_from, to, tail ? config_.max_abandon_ms * kMs : 0};
}

void World::Check() {
  // Every life that could grant, from then to the end of its window or its
  // stop, and its clients after that: a later life may grant only once the
  // earlier one's clients are done.
  for (std::size_t i = 0; i < lives_.size(); ++i) {
    const auto a = Authority(*lives_[i]);
    if (!a) continue;
    for (std::size_t j = i + 1; j < lives_.size(); ++j) {
      const auto b = Authority(*lives_[j]);
      if (!b) continue;
      const Span& first = a->from <= b->from ? *a : *b;
      const Span& second = a->from <= b->from ? *b : *a;
      if (second.from < first.to + first.tail) {
        std::ostringstream os;
        os << "two servers could grant at once (server " << lives_[i]->server
           << "." << lives_[i]->life << " and server " << lives_[j]->server
           << "." << lives_[j]->life << "): one from " << first.from / 1000
           << " to " << first.to / 1000 << " ms, its clients until "
           << (first.to + first.tail) / 1000 << " ms, the other from "
           << second.from / 1000 << " ms";
        Fail(os.str());
      }
    }
  }
}

void World::Fault() {
  ++outcome_.faults;
  const int server = static_cast<int>(Uniform(0, config_.servers - 1));
  Process& p = *current_[server];
  const std::string who =
      "server " + std::to_string(server) + "." + std::to_string(p.life);
  // The active, most of the time: that is where faults matter.
  Process* active = nullptr;
  for (Process* q : current_) {
    if (!q->stopped && server::ha::TakesClients(q->role)) active = q;
  }
  Process& target = active != nullptr && Chance(0.7) ? *active : p;
  const std::string t = "server " + std::to_string(target.server) + "." +
                        std::to_string(target.life);
  const Us grace = (config_.ttl_ms + config_.max_abandon_ms) * kMs;
  switch (Uniform(0, 9)) {
    case 0:
      Log("fault: kill -9 " + t);
      Stopped(target, /*restart=*/true);
      break;
    case 1: {
      const Us pause = Uniform(50 * kMs, 2 * grace);
      Log("fault: SIGSTOP " + t + " for " + std::to_string(pause / 1000) +
          " ms");
      target.paused_until = std::max(target.paused_until, now_ + pause);
      break;
    }
    case 2: {
      const Us cut = Uniform(200 * kMs, Us{3} * config_.ttl_ms * kMs);
      Log("fault: " + t + " cut off from etcd for " +
          std::to_string(cut / 1000) + " ms");
      target.partitioned_until = std::max(target.partitioned_until, now_ + cut);
      break;
    }
    case 3: {
      const Us down = Uniform(300 * kMs, 1500 * kMs);
      Log("fault: etcd without a leader for " + std::to_string(down / 1000) +
          " ms");
      etcd_down_until_ = std::max(etcd_down_until_, now_ + down);
      At(etcd_down_until_, [this] { etcd_.RenewAll(now_); });
      break;
    }
    case 4: {
      const Us slow = Uniform(500 * kMs, 5 * kS);
      Log("fault: the next request of " + t + " takes " +
          std::to_string(slow / 1000) + " ms more");
      target.slow_next = slow;
      break;
    }
    case 5:
      Log("fault: clean shutdown of " + t + " (drain, then resign)");
      target.Deliver(now_, [&target] {
        target.draining = true;
        if (target.held == 0) target.Resign();
      });
      break;
    default:
      Log("fault: shutdown cut short (no clean handover) of " + who);
      p.Deliver(now_, [&p] { p.node.Resign(nullptr); });
      break;
    case 7:
      Log("fault: the group's record deleted from etcd" +
          std::string(active != nullptr ? ", and the active killed" : ""));
      // What was durable until now still bounds the IDs of a running
      // active, which goes on granting under it.
      if (auto record = etcd_.ReadRecord(now_, RecordKey())) {
        ceiling_seen_ = std::max(ceiling_seen_, record->ceiling);
      }
      etcd_.Delete(RecordKey());
      if (active != nullptr) Stopped(*active, /*restart=*/true);
      Operate(Uniform(grace, 2 * grace), "re-initialise after a lost record",
              [] {});
      break;
    case 9: {
      // Like SIGSTOP, but the whole host: with a clock that does not count
      // the suspend, the process wakes up believing no time has passed.
      const Us pause = Uniform(50 * kMs, 2 * grace);
      Log("fault: host of " + t + " suspended for " +
          std::to_string(pause / 1000) + " ms");
      target.paused_until = std::max(target.paused_until, now_ + pause);
      if (config_.suspend_stops_clock) target.ClockStopped(pause);
      break;
    }
    case 8:
      Operate(0, "change the shard map", [this] {
        // Namespaces of another group move here: it issued IDs up to its
        // ceiling, and they must never go back.
        const std::string other = "other";
        // Ahead of the wall-clock floor too, as a group whose clock runs
        // ahead may be, within the half second that the servers' wall
        // clocks are assumed to agree (docs/ha.md, "Fencing tokens").
        const LockId ceiling =
            std::max(max_granted_, server::ha::WallClockFloor(Wall())) +
            static_cast<LockId>(Uniform(1, 2048 * 500));
        etcd_.Put(server::ha::RecordKey(other),
                  server::ha::Encode(Record{.ceiling = ceiling}));
        max_granted_ = ceiling;
        max_granted_life_ = -1;
        if (groups_.size() == 1) {
          groups_.push_back(other);
        } else {
          groups_.pop_back();
        }
      });
      break;
  }
}

bool World::Initialise() {
  const auto listed = etcd_.List(now_, std::string(server::ha::kRoot));
  const auto planned =
      server::ha::PlanInit(server::ha::ReadCluster(listed.value()), groups_,
                           Wall(), /*fresh=*/now_ == 0);
  if (!planned.ok()) {
    Log("--ha-init refused: " + planned.error().message);
    return false;
  }
  const auto& plan = planned.value();
  const auto done =
      etcd_.Guarded(now_, server::ha::MapKey(), plan.guard, plan.write);
  Log("--ha-init: " + plan.summary);
  return done.value();
}

void World::Operate(Us delay, const std::string& what,
                    std::function<void()> change) {
  At(now_ + delay, [this, what, change = std::move(change)]() mutable {
    if (operating_) return;
    operating_ = true;
    Log("operator: every server stopped, to " + what);
    for (Process* p : current_) Stopped(*p, /*restart=*/false);
    Reinitialise(std::move(change));
  });
}

// Once the stopped servers' candidacies have gone with their leases.
void World::Reinitialise(std::function<void()> change) {
  const auto listed = etcd_.List(now_, std::string(server::ha::kRoot));
  if (!server::ha::ReadCluster(listed.value()).campaigning.empty()) {
    return At(now_ + 500 * kMs, [this, change = std::move(change)]() mutable {
      Reinitialise(std::move(change));
    });
  }
  change();
  if (!Initialise()) return Fail("--ha-init refused with every server stopped");
  operating_ = false;
  for (int s = 0; s < config_.servers; ++s) Start(s);
}

HaOutcome World::Run() {
  current_.assign(config_.servers, nullptr);
  next_life_.assign(config_.servers, 0);
  if (!Initialise()) {
    outcome_.ok = false;
    outcome_.report = "--ha-init refused on an empty etcd";
    return outcome_;
  }
  for (int s = 0; s < config_.servers; ++s) Start(s);
  const Us end = static_cast<Us>(config_.seconds * kS);
  const Us quiet = end - static_cast<Us>(config_.quiet_seconds * kS);
  // Faults at random moments until the quiet part.
  for (Us t = Uniform(kS, 3 * kS); t < quiet;
       t += Uniform(kS / 4, static_cast<Us>(2 * config_.fault_every_s * kS))) {
    At(t, [this] { Fault(); });
  }
  while (!queue_.empty() && failure_.empty()) {
    Event e = queue_.top();
    queue_.pop();
    if (e.when > end) break;
    now_ = e.when;
    e.fn();
    ++outcome_.events;
    Check();
  }
  if (failure_.empty()) {
    bool serving = false;
    for (Process* p : current_) {
      // Elected counts: lost messages go on after the last fault, and two
      // lost keep-alives in a row may still fence an active near the end,
      // whose successor is then in its grace.
      serving = serving || (!p->stopped && server::ha::TakesClients(p->role));
    }
    if (!serving) {
      Fail("no server is elected " + std::to_string(config_.quiet_seconds) +
           " s after the last fault");
    }
  }
  for (const auto& p : lives_) {
    if (p->could_grant_from) ++outcome_.takeovers;
  }
  outcome_.ok = failure_.empty();
  if (!outcome_.ok) {
    std::ostringstream os;
    os << failure_ << "\nthe last events:\n";
    for (const std::string& line : log_) os << "  " << line << '\n';
    outcome_.report = os.str();
  }
  return outcome_;
}

}  // namespace

HaOutcome RunHaRound(const HaConfig& config, std::uint64_t seed) {
  return World(config, seed).Run();
}

}  // namespace locktopus::simulate
