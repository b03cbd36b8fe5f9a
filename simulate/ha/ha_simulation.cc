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
#include <string_view>
#include <vector>

#include "server/core/ha/cluster.h"
#include "server/core/ha/commit_gate.h"
#include "server/core/ha/etcd.h"
#include "server/core/ha/gate.h"
#include "server/core/ha/node.h"
#include "server/core/ha/record.h"
#include "server/core/ha/replication.h"
#include "server/core/ha/replicator.h"
#include "server/core/ha/stream.h"
#include "server/core/metrics.h"
#include "simulate/ha/fake_etcd.h"
#include "simulate/ha/fake_locks.h"
#include "util/result.h"

namespace locktopus::simulate {
namespace {

namespace ha = server::ha;
using ha::Clock;
using ha::GrantGate;
using ha::Node;
using ha::NodeIo;
using ha::NodeSettings;
using ha::Position;
using ha::Reply;
using ha::Role;
using ha::Time;
using server::Takeover;
using std::chrono::milliseconds;

constexpr Us kClientTimeout = 1 * kS;

// Replication as server/net/replication.cc runs it, but for kKeep: the
// server keeps 4096 changes past what every stream was sent; a few here,
// so that a standby back from a gap needs a snapshot now and then.
constexpr std::size_t kKeep = 16;
constexpr milliseconds kRetryFirst(100);
constexpr milliseconds kRetryLongest(1000);
constexpr Us kIdle = 2 * kS;  // a silent replication WebSocket is dropped
constexpr milliseconds kHandshakeTimeout(5000);
// What each replication message risks on its way: lost, duplicated, or
// late enough that the next ones overtake it; always, and much more on
// the links of a server made lossy by a fault.
constexpr double kMessageFault = 0.002;
constexpr double kLossyMessageFault = 0.05;

// Clients ping their server this often (their own clock).
constexpr Us kPingEvery = 200 * kMs;

std::string Name(int server, int life) {
  return "server " + std::to_string(server) + "." + std::to_string(life);
}

// Whether locks on `a` and `b` may not be held at once.
bool Conflict(const Resource& a, const Resource& b) {
  if (a.access == Access::kRead && b.access == Access::kRead) return false;
  const std::size_t n = std::min(a.path.size(), b.path.size());
  return std::equal(a.path.begin(), a.path.begin() + n, b.path.begin());
}

std::string Describe(const Resource& r) {
  std::string path;
  for (const std::string& segment : r.path) path += "/" + segment;
  return (r.access == Access::kWrite ? "write " : "read ") + path;
}

// ---- the world ------------------------------------------------------------

class World;
class Process;

// One /replicate_v1 WebSocket between a standby's life and an active's
// life. Each end is open until it closes itself, or hears that the other
// did (a FIN, a hop later; or, cut without one or from a paused peer, its
// idle timeout). Messages arrive in order, each a hop later, but for the
// faults: lost, duplicated, or late enough to be overtaken.
struct Link {
  Process* standby = nullptr;
  Process* active = nullptr;     // the process the standby reached
  std::uint64_t generation = 0;  // the standby's stream it is
  // The upgrade request's parameters (stream.h).
  ha::Member member;
  std::int64_t epoch = 0;
  Position from = 0;
  ha::FollowerId id = 0;  // the active's, once accepted
  bool standby_open = true;
  bool active_open = false;  // from its accept on
  bool opened = false;       // the standby has the handshake's answer
  bool cut = false;          // every message lost, both ways; no FIN
  // When the last in-order message to each end arrives.
  Us to_standby = 0;
  Us to_active = 0;
};

// One client connection, as each end sees it: each hears of the other's
// close a hop later. The server's frames wait in `queue`, each tagged with
// the change log's end when it was queued, until they are committed.
struct Conn {
  ConnId id = 0;
  int client = 0;
  Process* server = nullptr;
  bool client_open = true;
  bool server_open = true;
  bool accepted = false;  // the server took its first message
  std::deque<std::pair<Frame, Position>> queue;
  bool waiting = false;  // for the commit of the front frame's tag
  Us to_client = 0;
  Us to_server = 0;
};

// A server's replication, wired as server/net/replication.cc's
// ReplicationImpl wires the Follower (standby) and the Replicator
// (active), over Links instead of WebSockets.
class FakeReplication final : public ha::Replicator::Io {
 public:
  explicit FakeReplication(Process& p) : p_(p) {}

  // ---- standby
  void SetRevision(std::int64_t revision) { revision_ = revision; }
  void Follow(const std::string& leader, std::int64_t epoch);
  void Freeze();
  bool Whole(std::int64_t epoch) const { return follower_.Whole(epoch); }
  ha::Replica Take() { return follower_.Take(); }
  Position applied() const { return follower_.applied(); }
  // The epoch of the active it follows (or last followed).
  std::int64_t following() const { return leader_epoch_; }

  // ---- active
  void Activate(Node& node, std::int64_t epoch);
  void Stop();
  // ChangeLog::OnAppend: one flush per turn.
  void Appended();

  // ---- its ends of links, on its process
  void Accepted(const std::shared_ptr<Link>& link);
  void Acked(const std::shared_ptr<Link>& link, std::string_view text);
  void StreamClosed(const Link& link, const std::string& why);
  void Opened(const Link& link);
  void Received(const std::shared_ptr<Link>& link, std::string_view text);
  void Ended(const Link& link, const std::string& why);

  // ---- Replicator::Io
  Time Now() override;
  void After(Clock::duration delay, std::function<void()> fn) override;
  Position LogEnd() override;
  void SetInSync(
      std::vector<ha::Member> standbys,
      std::function<void(const std::vector<ha::Member>&)> written) override;
  void Committed(Position position) override;
  void Drop(ha::FollowerId follower, const std::string& why) override;

 private:
  struct Outbound {
    std::shared_ptr<Link> link;
    Position sent = 0;
  };

  void Connect(std::uint64_t generation);
  void Retry(std::uint64_t generation, const std::string& why);
  void Flush();

  Process& p_;
  // The standby's side.
  ha::Follower follower_;
  std::string leader_;
  std::int64_t leader_epoch_ = 0;
  std::int64_t revision_ = 0;
  std::shared_ptr<Link> link_;
  std::uint64_t generation_ = 0;
  milliseconds retry_ = kRetryFirst;
  bool frozen_ = false;
  // The active's side.
  Node* node_ = nullptr;
  std::int64_t epoch_ = 0;
  std::unique_ptr<ha::Replicator> replicator_;
  std::uint64_t replicator_life_ = 0;  // which replicator a timer is for
  std::map<ha::FollowerId, Outbound> streams_;
  bool flush_pending_ = false;
};

// One life of one server: a process, from its start to its crash, fence or
// resignation. A restarted server is a new Process, with empty memory.
class Process final : public NodeIo,
                      public server::ha::Etcd,
                      public FakeLocks::Io {
 public:
  Process(World& world, int server, int life, const NodeSettings& settings,
          double rate, Us offset, bool replicated);

  // NodeIo.
  Time Now() override;
  std::chrono::system_clock::time_point WallNow() override;
  void After(Clock::duration delay, std::function<void()> fn) override;
  void SetIdFloor(LockId floor) override {
    next_id_ = std::max(next_id_, floor);
    locks.SetIdFloor(floor);
  }
  void RoleChanged(Role role, const std::string& why) override;
  void TookOver(Takeover kind) override;
  void Leader(const std::string& name, std::int64_t epoch) override;
  void Elected() override;
  bool HasReplica(std::int64_t epoch) override;
  std::string AdoptReplica(milliseconds extend) override;
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

  // FakeLocks::Io.
  Time LocalNow() override { return Now(); }
  void LocalAfter(milliseconds delay, std::function<void()> fn) override {
    After(delay, std::move(fn));
  }
  void Send(ConnId conn, const Frame& frame) override;
  void Drop(ConnId conn) override;
  void LockEnded() override;

  // Runs `fn` at real time `when` if this life still runs then; while it is
  // paused, when the pause ends.
  void Deliver(Us when, std::function<void()> fn);

  // No lock held by a client, in the ID stream or in the lock model.
  bool Idle() const { return held == 0 && locks.LiveLocks() == 0; }
  // A drain found no lock held: resign, clean if still none is held once
  // the gate has closed.
  void Resign() {
    node.Resign([this] { return Idle(); });
  }

  // The ID stream of rounds without replication: a lock request every few
  // milliseconds, acquired at once, held a while.
  void Clients();
  void Announce(LockId id);

  // The server closes `conn` (its client hears a hop later).
  void CloseConn(Conn& conn);
  // Writes what `conn` may write now: frames whose changes are committed;
  // an acquisition only while the gate grants.
  void Pump(Conn& conn);

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
  std::string name() const { return Name(server, life); }

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
  Us lossy_until = 0;        // its replication messages go astray until
  // When its gate could first grant, and when it stopped.
  std::optional<Us> could_grant_from;
  std::optional<Us> stopped_at;
  // The ID stream's locks held now; at its stop, whether any lock was.
  int held = 0;
  bool held_at_stop = false;
  bool draining = false;  // a clean shutdown: no new locks, then resign
  // Replication (server/net/replication.h's ServerState parts): null in a
  // round without it.
  const std::unique_ptr<ha::ChangeLog> log;
  const std::unique_ptr<ha::CommitGate> commit;
  FakeLocks locks;
  const std::unique_ptr<FakeReplication> replication;
  std::map<ConnId, Conn*> conns;  // open at its end
  std::optional<Takeover> took_over;
  std::int64_t replica_epoch = 0;  // whose replica HasReplica found whole
  std::optional<Us> elected_at;    // when its follower froze
  // When an in-sync successor's follower froze: this life commits, and so
  // grants, nothing from then on, and its clients' locks are the
  // successor's.
  std::optional<Us> superseded_at;

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

// A client of the group: takes one lock at a time, from whichever server is
// ready, in a session or on a plain connection, and counts it held from
// the `acquired` it reads until it releases it or its proof of life from
// the server is older than its window less the C++ client's margin (on its
// own clock).
struct Client {
  enum class Phase { kIdle, kAsked, kEnqueued, kHolding, kReleasing };
  int index = 0;
  double rate = 1;
  bool sessions = true;
  Us window = 0;         // the session's window, or the abandon timeout
  Conn* conn = nullptr;  // open from its side
  std::uint64_t session = 0;
  std::string secret;
  int locks_left = 0;  // on this session, before it closes it
  Phase phase = Phase::kIdle;
  Resource resource;
  LockId id = 0;
  bool believes = false;  // counts lock `id` held
  int lineage = -1;       // of the server that told it so
  Us proof = 0;           // the send time of its last request answered
  Us until = 0;           // when it counts the lock lost without a newer proof
  Us asked = 0;           // when it sent its last request
  Us heard = 0;           // when it last heard from its server
  bool resuming = false;
  std::uint64_t cycle = 0;  // timers of an older cycle do nothing
};

class World {
 public:
  World(const HaConfig& config, std::uint64_t seed)
      : config_(config), rng_(seed), replicated_(Replicates(config, seed)) {
    settings_.ttl = milliseconds(config.ttl_ms);
    settings_.max_abandon = milliseconds(config.max_abandon_ms);
    settings_.id_block = config.id_block;
    settings_.group = kGroup;
    outcome_.replicated = replicated_;
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
  HaOutcome& outcome() { return outcome_; }

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
    if (log_.size() > 80) log_.pop_front();
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

  // ---- replication links
  // The standby `link` names dials the server `leader` names.
  void Dial(const std::shared_ptr<Link>& link, const std::string& leader);
  // The active took the link: the standby hears the handshake's answer.
  void Accept(const std::shared_ptr<Link>& link);
  // A message from one end (to the standby, or to the active).
  void Send(const std::shared_ptr<Link>& link, bool to_standby,
            std::string text);
  // An end closes itself (Link::Close, posted to the link's strand): it
  // ends a moment later, and its peer hears the FIN.
  void Close(const std::shared_ptr<Link>& link, bool standby_end,
             const std::string& why);
  ha::FollowerId NextFollower() { return ++next_follower_; }

  // ---- clients
  // The server wrote `frame` to `conn`: the client reads it a hop later.
  void Written(Process& p, Conn& conn, const Frame& frame, Position tag);
  // The server closed `conn`: its client hears it a hop later.
  void ServerClosed(Conn& conn);

  // ---- what the checks need to hear
  // `p` adopted `replica`, a whole copy of epoch `epoch`'s active.
  void Adopted(Process& p, const ha::Replica& replica, std::int64_t epoch);
  void TookOver(Process& p, Takeover kind);

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
  void CheckClients();
  void CheckInSync();
  // The ceiling and the gate's opening, at every grant.
  void CheckGrant(const Process& p, LockId id);
  // When a life could grant, and how long its clients may go on after.
  struct Span {
    Us from = 0;
    Us to = 0;
    Us tail = 0;
  };
  // nullopt if it never could grant.
  std::optional<Span> Authority(const Process& p) const;
  // The group's record now, read once per change of etcd.
  const std::optional<Record>& RecordNow();
  // The live process that is `member` (the same candidacy), if any.
  Process* LiveMember(const ha::Member& member);
  // Which succession of in-sync takeovers `p`'s state comes from.
  int Lineage(const Process& p) const;

  // ---- links
  // An end ends (its own close, the peer's FIN, its idle timeout): its
  // process hears it, and the peer hears a FIN if `fin`.
  void End(const std::shared_ptr<Link>& link, bool standby_end,
           const std::string& why, bool fin);
  // The peer ends of `p`'s links time out if `p` is still paused then.
  void IdleLinks(Process& p);

  // ---- clients
  Conn& NewConn(Client& c, Process& p);
  // Runs `fn` on the server a hop later, in order, if `conn` is open there.
  void ToServer(Conn& conn, std::function<void(Process&)> fn);
  // A server that says it is ready (HAProxy's choice), if any.
  Process* Ready();
  void Tick(Client& c);
  void Ask(Client& c);
  void Connect(Client& c, bool resume);
  void Again(Client& c, Us delay);
  void Read(Conn& conn, const Frame& frame);
  void Resumed(Client& c, Process& from, const Frame& frame);
  void Hold(Client& c, Process& from);
  void Release(Client& c);
  void Done(Client& c);
  // The client closes its connection (its server hears a hop later).
  void Hangup(Client& c);
  // The client's connection is gone (it heard the close, or gave up on a
  // silent server): a session resumes elsewhere, a plain lock is left to
  // its timeout.
  void Disconnected(Client& c);
  void Prove(Client& c, Us sent);
  bool Live(const Client& c) const { return c.believes && now_ < c.until; }
  // The client stops counting its lock held; `lost`: not by its release.
  void Forget(Client& c, bool lost, const std::string& why);
  // A server says the client's lock is gone.
  void Gone(Client& c, Process& from, const std::string& why);
  std::string Who(const Client& c) const {
    return "client " + std::to_string(c.index);
  }

  const HaConfig config_;
  NodeSettings settings_;
  std::mt19937_64 rng_;
  const bool replicated_;
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
  // Replication.
  std::vector<std::shared_ptr<Link>> links_;
  ha::FollowerId next_follower_ = 0;
  // By epoch: the largest log position a client was sent an effect of,
  // and the position an in-sync successor adopted.
  std::map<std::int64_t, Position> seen_;
  std::map<std::int64_t, Position> adopted_;
  std::map<std::int64_t, int> lineage_;  // by epoch
  int next_lineage_ = 0;
  Revision record_revision_ = -1;
  std::optional<Record> record_;
  // Clients.
  std::vector<Client> clients_;
  std::map<ConnId, std::unique_ptr<Conn>> conns_;
  ConnId next_conn_ = 0;
  // The largest IDs counted held on each path, by access.
  struct Marks {
    LockId write = 0;
    LockId read = 0;
  };
  std::map<Path, Marks> tokens_;
  HaOutcome outcome_;
  std::deque<std::string> log_;
  std::string failure_;
};

// ---- replication, as server/net/replication.cc runs it --------------------

void FakeReplication::Follow(const std::string& leader, std::int64_t epoch) {
  if (frozen_) return;
  leader_ = leader;
  leader_epoch_ = epoch;
  ++generation_;
  if (link_)
    p_.world.Close(link_, /*standby_end=*/true, "another active leads");
  link_.reset();
  retry_ = kRetryFirst;
  Connect(generation_);
}

void FakeReplication::Freeze() {
  frozen_ = true;
  follower_.Freeze();
  ++generation_;
  if (link_) p_.world.Close(link_, /*standby_end=*/true, "elected");
  link_.reset();
}

void FakeReplication::Connect(std::uint64_t generation) {
  if (generation != generation_ || frozen_ || leader_.empty()) return;
  const std::optional<Position> from = follower_.Begin(leader_epoch_);
  if (!from) return;
  link_ = std::make_shared<Link>(
      Link{.standby = &p_,
           .generation = generation,
           .member = {.name = "server-" + std::to_string(p_.server),
                      .revision = revision_},
           .epoch = leader_epoch_,
           .from = *from});
  p_.world.Dial(link_, leader_);
}

void FakeReplication::Retry(std::uint64_t generation, const std::string& why) {
  if (generation != generation_ || frozen_) return;
  link_.reset();
  p_.world.Log(p_.name() + ": replication from " + leader_ + ": " + why +
               "; again in " + std::to_string(retry_.count()) + " ms");
  p_.After(retry_, [this, generation] { Connect(generation); });
  retry_ = std::min(retry_ * 2, kRetryLongest);
}

void FakeReplication::Opened(const Link& link) {
  if (link.generation == generation_) retry_ = kRetryFirst;
}

void FakeReplication::Received(const std::shared_ptr<Link>& link,
                               std::string_view text) {
  const ha::Follower::Answer answer = follower_.OnMessage(text);
  if (!answer.error.empty()) {
    return p_.world.Close(link, /*standby_end=*/true, answer.error);
  }
  if (answer.ack)
    p_.world.Send(link, /*to_standby=*/false, ha::FormatAck(*answer.ack));
}

void FakeReplication::Ended(const Link& link, const std::string& why) {
  Retry(link.generation, why);
}

void FakeReplication::Activate(Node& node, std::int64_t epoch) {
  if (replicator_) return;
  node_ = &node;
  epoch_ = epoch;
  ++replicator_life_;
  replicator_ = std::make_unique<ha::Replicator>(
      milliseconds(p_.world.config().ack_timeout_ms), *this);
}

void FakeReplication::Stop() {
  ++generation_;
  if (link_) p_.world.Close(link_, /*standby_end=*/true, "stopping");
  link_.reset();
  for (auto& [id, stream] : streams_) {
    p_.world.Close(stream.link, /*standby_end=*/false, "stopping");
  }
  streams_.clear();
  replicator_.reset();
  ++replicator_life_;
}

void FakeReplication::Appended() {
  if (flush_pending_) return;
  flush_pending_ = true;
  p_.Deliver(p_.world.now(), [this] { Flush(); });
}

// A standby's stream is open: a catch-up if it followed this epoch and the
// log still has what it lacks, else a snapshot.
void FakeReplication::Accepted(const std::shared_ptr<Link>& link) {
  if (!link->standby_open) return;  // it gave up meanwhile
  if (!replicator_) {
    link->active_open = true;
    return p_.world.Close(link, /*standby_end=*/false, "not taking standbys");
  }
  link->active_open = true;
  link->id = p_.world.NextFollower();
  p_.world.Accept(link);
  std::vector<std::string> messages;
  Position at = 0;
  std::optional<std::vector<ha::Change>> changes;
  if (link->epoch == epoch_ && link->from > 0) {
    changes = p_.log->From(link->from);
  }
  if (changes) {
    at = link->from - 1;
    messages = ha::FormatChanges(epoch_, link->from, *changes);
    streams_[link->id] = {link, at + changes->size()};
    ++p_.world.outcome().catch_ups;
  } else {
    const ha::Snapshot snapshot = p_.log->Snapshot();
    at = snapshot.position;
    messages = ha::FormatSnapshot(epoch_, snapshot);
    streams_[link->id] = {link, at};
    ++p_.world.outcome().snapshots;
  }
  p_.world.Log(p_.name() + ": standby " + link->member.name + "@" +
               std::to_string(link->member.revision) + " joined at " +
               std::to_string(at) +
               (changes ? " (catching up)" : " (snapshot)"));
  replicator_->Opened(link->id, link->member, at);
  for (std::string& m : messages) {
    p_.world.Send(link, /*to_standby=*/true, std::move(m));
  }
}

void FakeReplication::Acked(const std::shared_ptr<Link>& link,
                            std::string_view text) {
  const std::optional<Position> ack = ha::ParseAck(text);
  if (!ack) {
    return p_.world.Close(link, /*standby_end=*/false,
                          "not an acknowledgement");
  }
  ++p_.world.outcome().acks;
  if (replicator_) replicator_->Acked(link->id, *ack);
}

void FakeReplication::StreamClosed(const Link& link, const std::string& why) {
  if (streams_.erase(link.id) == 0) return;
  p_.world.Log(p_.name() + ": standby " + link.member.name +
               "'s stream ended: " + why);
  if (replicator_) replicator_->Closed(link.id);
}

// Sends what was appended since the last flush to every stream, then keeps
// only a tail of what every stream has.
void FakeReplication::Flush() {
  flush_pending_ = false;
  Position sent_all = p_.log->last();
  if (replicator_) {
    for (auto& [id, stream] : streams_) {
      std::optional<std::vector<ha::Change>> changes =
          p_.log->From(stream.sent + 1);
      if (!changes) {
        p_.world.Close(stream.link, /*standby_end=*/false, "behind the log");
        continue;
      }
      if (!changes->empty()) {
        for (std::string& m :
             ha::FormatChanges(epoch_, stream.sent + 1, *changes)) {
          p_.world.Send(stream.link, /*to_standby=*/true, std::move(m));
        }
        stream.sent += changes->size();
      }
      sent_all = std::min(sent_all, stream.sent);
    }
    replicator_->Appended(sent_all);
  }
  if (sent_all > kKeep) p_.log->Trim(sent_all - kKeep);
}

Time FakeReplication::Now() { return p_.Now(); }

void FakeReplication::After(Clock::duration delay, std::function<void()> fn) {
  // As in the server (net/replication.cc), a timer set before Stop destroyed
  // the replicator does nothing: here it is also counted.
  p_.After(delay, [this, life = replicator_life_, fn = std::move(fn)] {
    if (life != replicator_life_) {
      ++p_.world.outcome().stale_replicator_timers;
      p_.world.Log(p_.name() +
                   ": a timer of its stopped Replicator fires (skipped)");
      return;
    }
    fn();
  });
}

Position FakeReplication::LogEnd() { return p_.log->last(); }

void FakeReplication::SetInSync(
    std::vector<ha::Member> standbys,
    std::function<void(const std::vector<ha::Member>&)> written) {
  std::string names;
  for (const ha::Member& m : standbys) {
    names += " " + m.name + "@" + std::to_string(m.revision);
  }
  p_.world.Log(p_.name() + ": in-sync standbys becoming [" +
               (names.empty() ? std::string() : names.substr(1)) + "]");
  node_->SetInSync(std::move(standbys), std::move(written));
}

void FakeReplication::Committed(Position position) {
  ++p_.world.outcome().commits;
  p_.commit->Advance(position);
}

void FakeReplication::Drop(ha::FollowerId follower, const std::string& why) {
  const auto it = streams_.find(follower);
  if (it == streams_.end()) return;
  ++p_.world.outcome().dropped;
  p_.world.Log(p_.name() + ": standby " + it->second.link->member.name +
               " dropped: " + why);
  p_.world.Close(it->second.link, /*standby_end=*/false, why);
}

// ---- a process --------------------------------------------------------------

Process::Process(World& w, int s, int l, const NodeSettings& settings,
                 double rate, Us offset, bool replicated)
    : server(s),
      life(l),
      world(w),
      node(settings, *this, *this, gate),
      log(replicated ? std::make_unique<ha::ChangeLog>() : nullptr),
      commit(replicated ? std::make_unique<ha::CommitGate>(
                              [l = log.get()] { return l->last(); })
                        : nullptr),
      locks(log.get(), &gate, *this),
      replication(replicated ? std::make_unique<FakeReplication>(*this)
                             : nullptr),
      rate_(rate),
      offset_(offset) {
  gate.OnRaise(
      [this] { Deliver(world.now(), [this] { node.RaiseCeiling(); }); });
  if (log) log->OnAppend([this] { replication->Appended(); });
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
  world.Log(name() + ": " + std::string(server::ha::Name(r)) + ": " + why);
  // From when its gate could grant: the end of the grace, or at once.
  if (role == Role::kStandby && r == Role::kGrace) {
    could_grant_from = Real(gate.grace_until());
  } else if (role == Role::kStandby && r == Role::kServing) {
    could_grant_from = world.now();
  }
  // Its gate is closed from now on.
  if ((r == Role::kFenced || r == Role::kResigned) && !stopped_at) {
    stopped_at = world.now();
    held_at_stop = !Idle();
  }
  role = r;
  // As the server's RoleDriver: standbys are taken once serving (past any
  // grace), and let go when it stops.
  if (!replication) return;
  if (r == Role::kServing) {
    replication->Activate(node, node.epoch());
  } else if (r == Role::kFenced || r == Role::kResigned) {
    replication->Stop();
  }
}

void Process::TookOver(Takeover kind) {
  took_over = kind;
  world.TookOver(*this, kind);
}

void Process::Leader(const std::string& name, std::int64_t epoch) {
  if (!replication) return;
  replication->SetRevision(node.epoch());
  replication->Follow(name, epoch);
}

void Process::Elected() {
  elected_at = world.now();
  if (replication) replication->Freeze();
}

bool Process::HasReplica(std::int64_t epoch) {
  if (!replication || !replication->Whole(epoch)) return false;
  replica_epoch = epoch;
  return true;
}

std::string Process::AdoptReplica(milliseconds extend) {
  const ha::Replica replica = replication->Take();
  const Status adopted = locks.Adopt(replica, extend);
  if (!adopted.ok()) return adopted.error().message;
  world.Log(name() + ": adopted the replica of epoch " +
            std::to_string(replica_epoch) + " at " +
            std::to_string(replica.Applied()) + ": " +
            std::to_string(locks.LiveLocks()) + " live locks, " +
            std::to_string(replica.sessions().size()) +
            " sessions, every window restarted and " +
            std::to_string(extend.count()) + " ms longer");
  world.Adopted(*this, replica, replica_epoch);
  return {};
}

void Process::Fence(const std::string& why) {
  world.Log(name() + " fenced: " + why);
  world.Stopped(*this, /*restart=*/true);
}

void Process::Resigned(bool clean) {
  world.Log(name() + (clean ? " resigned cleanly" : " resigned"));
  world.Stopped(*this, /*restart=*/true);
}

void Process::Send(ConnId id, const Frame& frame) {
  const auto it = conns.find(id);
  if (it == conns.end()) return;
  Conn& conn = *it->second;
  conn.queue.emplace_back(frame, commit ? commit->Tag() : 0);
  Pump(conn);
}

void Process::Drop(ConnId id) {
  const auto it = conns.find(id);
  if (it != conns.end()) CloseConn(*it->second);  // 4409: its session moved
}

void Process::LockEnded() {
  if (draining && Idle()) Resign();
}

void Process::CloseConn(Conn& conn) {
  if (!conn.server_open) return;
  conn.server_open = false;
  conns.erase(conn.id);
  locks.Closed(conn.id);
  world.ServerClosed(conn);
}

// As the server's WebSocket session (ws_session_impl.h, DoWrite): a frame
// waits for the commit of its tag; an acquisition is written only while
// the gate grants, else the connection is dropped.
void Process::Pump(Conn& conn) {
  while (conn.server_open && !conn.queue.empty() && !conn.waiting) {
    const auto& [frame, tag] = conn.queue.front();
    if (commit && !commit->IsCommitted(tag)) {
      conn.waiting = true;
      commit->WhenCommitted(tag, [this, id = conn.id] {
        Deliver(world.now(), [this, id] {
          const auto it = conns.find(id);
          if (it == conns.end()) return;
          it->second->waiting = false;
          Pump(*it->second);
        });
      });
      return;
    }
    if (frame.grant && !gate.Granting(Now())) {
      // Queued in the window, but its turn came after it.
      return CloseConn(conn);
    }
    const Frame written = frame;
    const Position at = tag;
    conn.queue.pop_front();
    world.Written(*this, conn, written, at);
    if (written.close) return CloseConn(conn);
  }
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
  lives_.push_back(std::make_unique<Process>(*this, server, life, settings,
                                             rate, offset, replicated_));
  Process* p = lives_.back().get();
  current_[server] = p;
  Log(p->name() + " starts (clock rate " + std::to_string(rate) + ")");
  p->Deliver(now_, [this, p] {
    p->node.Start();
    if (!replicated_) p->Clients();
  });
}

void World::Stopped(Process& p, bool restart) {
  if (p.stopped) return;
  p.stopped = true;
  if (!p.stopped_at) {
    p.stopped_at = now_;
    p.held_at_stop = !p.Idle();
  }
  // Its sockets close with it: its clients and its peers hear a FIN.
  for (auto& [id, conn] : p.conns) {
    conn->server_open = false;
    ServerClosed(*conn);
  }
  p.conns.clear();
  for (const std::shared_ptr<Link>& link : links_) {
    const bool standby_end = link->standby == &p;
    if (!standby_end && link->active != &p) continue;
    (standby_end ? link->standby_open : link->active_open) = false;
    if (link->cut) continue;
    Process* peer = standby_end ? link->active : link->standby;
    if (peer == nullptr) continue;
    peer->Deliver(now_ + Hop(), [this, link, standby_end] {
      End(link, !standby_end, "the peer is gone", /*fin=*/false);
    });
  }
  std::erase_if(links_, [](const std::shared_ptr<Link>& link) {
    return !link->standby_open && !link->active_open;
  });
  if (restart) Restart(p.server, Uniform(100 * kMs, 2 * kS));
}

void World::Restart(int server, Us delay) {
  At(now_ + delay, [this, server] {
    if (current_[server]->stopped && !operating_) Start(server);
  });
}

void World::CheckGrant(const Process& p, LockId id) {
  const std::optional<Record> record = etcd_.ReadRecord(now_, RecordKey());
  // A record deleted under a running active: it grants under the ceiling
  // that was durable before.
  if (record) ceiling_seen_ = std::max(ceiling_seen_, record->ceiling);
  const LockId ceiling = record ? record->ceiling : ceiling_seen_;
  if (id > ceiling) {
    Fail(p.name() + " granted ID " + std::to_string(id) +
         " above the group's durable ceiling " + std::to_string(ceiling));
  }
  if (!p.could_grant_from || now_ < *p.could_grant_from) {
    Fail(p.name() + " granted before its gate could open");
  }
}

void World::Grant(Process& p, LockId id) {
  ++outcome_.grants;
  if (id <= max_granted_ && max_granted_life_ != p.life * 100 + p.server) {
    Fail("fencing token went back: " + p.name() + " granted ID " +
         std::to_string(id) + " after ID " + std::to_string(max_granted_) +
         " was granted");
  }
  CheckGrant(p, id);
  if (id > max_granted_) {
    max_granted_ = id;
    max_granted_life_ = p.life * 100 + p.server;
  }
  // The client holds it a while, then releases it; a drain waits for that.
  ++p.held;
  p.After(milliseconds(Uniform(0, 300)), [&p] {
    if (--p.held == 0 && p.draining && p.Idle()) p.Resign();
  });
}

void World::TookOver(Process& p, Takeover kind) {
  const std::int64_t epoch = p.node.epoch();
  const auto from = lineage_.find(p.replica_epoch);
  lineage_[epoch] = kind == Takeover::kInSync && from != lineage_.end()
                        ? from->second
                        : next_lineage_++;
}

int World::Lineage(const Process& p) const {
  const auto it = lineage_.find(p.node.epoch());
  return it == lineage_.end() ? -1 : it->second;
}

// ---- replication links
// --------------------------------------------------------

void World::Dial(const std::shared_ptr<Link>& link, const std::string& leader) {
  links_.push_back(link);
  const int server = std::stoi(leader.substr(leader.rfind('-') + 1));
  At(now_ + Hop(), [this, link, server] {
    // Whichever life listens at that address now.
    Process* target = current_[server];
    link->active = target;
    if (target->stopped) {
      return link->standby->Deliver(now_ + Hop(), [this, link] {
        End(link, /*standby_end=*/true, "connect: refused", /*fin=*/false);
      });
    }
    target->Deliver(now_,
                    [target, link] { target->replication->Accepted(link); });
  });
  link->standby->After(kHandshakeTimeout, [this, link] {
    if (!link->opened) {
      End(link, /*standby_end=*/true, "handshake: timeout", /*fin=*/true);
    }
  });
}

void World::Accept(const std::shared_ptr<Link>& link) {
  Us& at = link->to_standby;
  at = std::max(at, now_ + Hop());
  link->standby->Deliver(at, [link] {
    if (!link->standby_open) return;
    link->opened = true;
    link->standby->replication->Opened(*link);
  });
}

void World::Send(const std::shared_ptr<Link>& link, bool to_standby,
                 std::string text) {
  if (!(to_standby ? link->active_open : link->standby_open)) return;
  Process* to = to_standby ? link->standby : link->active;
  const bool lossy =
      link->standby->lossy_until > now_ || link->active->lossy_until > now_;
  const double fault = lossy ? kLossyMessageFault : kMessageFault;
  if (link->cut || Chance(fault)) {
    ++outcome_.lost_messages;
    return;
  }
  auto deliver = [link, to_standby, to, text](Us at) {
    to->Deliver(at, [link, to_standby, to, text] {
      if (!(to_standby ? link->standby_open : link->active_open)) return;
      if (to_standby) {
        to->replication->Received(link, text);
      } else {
        to->replication->Acked(link, text);
      }
    });
  };
  if (Chance(fault)) {
    // Late: the next ones overtake it.
    return deliver(now_ + Hop() + Uniform(5 * kMs, 100 * kMs));
  }
  Us& fifo = to_standby ? link->to_standby : link->to_active;
  fifo = std::max(fifo, now_ + Hop());
  deliver(fifo);
  if (Chance(fault)) {
    fifo = std::max(fifo, now_ + Hop());
    deliver(fifo);  // twice
  }
}

void World::Close(const std::shared_ptr<Link>& link, bool standby_end,
                  const std::string& why) {
  // Posted to the link's strand: a message already read is still handled.
  Process* self = standby_end ? link->standby : link->active;
  self->Deliver(now_ + Uniform(0, 500), [this, link, standby_end, why] {
    End(link, standby_end, why, /*fin=*/true);
  });
}

void World::End(const std::shared_ptr<Link>& link, bool standby_end,
                const std::string& why, bool fin) {
  bool& open = standby_end ? link->standby_open : link->active_open;
  if (!open) return;
  open = false;
  Process* self = standby_end ? link->standby : link->active;
  if (!self->stopped) {
    if (standby_end) {
      self->replication->Ended(*link, why);
    } else {
      self->replication->StreamClosed(*link, why);
    }
  }
  Process* peer = standby_end ? link->active : link->standby;
  if (!fin || link->cut || peer == nullptr) return;
  Us& at = standby_end ? link->to_active : link->to_standby;
  at = std::max(at, now_ + Hop());
  peer->Deliver(at, [this, link, standby_end, why] {
    End(link, !standby_end, "closed by the peer: " + why, /*fin=*/false);
  });
}

void World::IdleLinks(Process& p) {
  for (const std::shared_ptr<Link>& link : links_) {
    const bool standby_end = link->standby == &p;
    if (!standby_end && link->active != &p) continue;
    At(now_ + kIdle, [this, link, standby_end, &p] {
      if (p.paused_until <= now_ || p.stopped) return;
      Process* peer = standby_end ? link->active : link->standby;
      if (peer == nullptr) return;
      peer->Deliver(now_, [this, link, standby_end] {
        End(link, !standby_end, "idle: the peer is silent", /*fin=*/true);
      });
    });
  }
}

// ---- clients ----------------------------------------------------------------

Conn& World::NewConn(Client& c, Process& p) {
  auto conn = std::make_unique<Conn>(
      Conn{.id = ++next_conn_, .client = c.index, .server = &p});
  Conn& made = *conn;
  conns_.emplace(made.id, std::move(conn));
  p.conns[made.id] = &made;
  c.conn = &made;
  c.heard = now_;
  return made;
}

void World::ToServer(Conn& conn, std::function<void(Process&)> fn) {
  conn.to_server = std::max(conn.to_server, now_ + Hop());
  Process* p = conn.server;
  p->Deliver(conn.to_server, [p, &conn, fn = std::move(fn)] {
    if (conn.server_open) fn(*p);
  });
}

void World::Written(Process& p, Conn& conn, const Frame& frame, Position tag) {
  if (p.log) {
    const std::int64_t epoch = p.node.epoch();
    Position& seen = seen_[epoch];
    seen = std::max(seen, tag);
    const auto adopted = adopted_.find(epoch);
    if (adopted != adopted_.end() && tag > adopted->second) {
      Fail(p.name() + " (epoch " + std::to_string(epoch) +
           ") sent a client the effect of position " + std::to_string(tag) +
           ", but its in-sync successor adopted the epoch's changes only up "
           "to " +
           std::to_string(adopted->second));
    }
  }
  if (frame.grant) {
    ++outcome_.grants;
    CheckGrant(p, frame.id);
  }
  conn.to_client = std::max(conn.to_client, now_ + Hop());
  At(conn.to_client, [this, &conn, frame] {
    if (conn.client_open) Read(conn, frame);
  });
}

void World::ServerClosed(Conn& conn) {
  conn.to_client = std::max(conn.to_client, now_ + Hop());
  At(conn.to_client, [this, &conn] {
    if (!conn.client_open) return;
    conn.client_open = false;
    Client& c = clients_[conn.client];
    if (c.conn != &conn) return;
    c.conn = nullptr;
    Disconnected(c);
  });
}

Process* World::Ready() {
  std::vector<Process*> ready;
  for (Process* p : current_) {
    if (!p->stopped && server::ha::TakesClients(p->role)) ready.push_back(p);
  }
  if (ready.empty() || operating_) return nullptr;
  return ready[Uniform(0, static_cast<Us>(ready.size()) - 1)];
}

void World::Again(Client& c, Us delay) {
  At(now_ + delay, [this, &c, cycle = c.cycle] {
    if (c.cycle == cycle && c.phase == Client::Phase::kIdle) Ask(c);
  });
}

// A new lock: on the client's connection, or on a new one.
void World::Ask(Client& c) {
  ++c.cycle;
  c.phase = Client::Phase::kAsked;
  static const Path kPaths[] = {{"a"}, {"b"}, {"a", "x"}};
  c.resource = {.access = Chance(0.7) ? Access::kWrite : Access::kRead,
                .path = kPaths[Uniform(0, 2)]};
  c.id = 0;
  if (c.conn == nullptr) return Connect(c, /*resume=*/false);
  c.asked = now_;
  ToServer(*c.conn, [id = c.conn->id, r = c.resource](Process& p) {
    p.locks.Lock(id, r);
  });
}

void World::Connect(Client& c, bool resume) {
  Process* p = Ready();
  if (p == nullptr) {
    // Every server refuses (503): try again.
    return At(now_ + Uniform(50 * kMs, 200 * kMs),
              [this, &c, cycle = c.cycle, resume] {
                if (c.cycle == cycle && c.conn == nullptr &&
                    (resume ? c.resuming : c.phase == Client::Phase::kAsked)) {
                  Connect(c, resume);
                }
              });
  }
  Conn& conn = NewConn(c, *p);
  c.asked = now_;
  if (!resume && c.sessions) {
    c.session = rng_() | 1;
    c.secret = std::to_string(rng_());
    c.locks_left = static_cast<int>(Uniform(1, 4));
  }
  ToServer(conn, [&conn, session = c.session, secret = c.secret,
                  window = milliseconds(c.window / kMs), sessions = c.sessions,
                  resource = c.resource, resume](Process& p) {
    if (!server::ha::TakesClients(p.role)) {
      return p.CloseConn(conn);  // 503: not ready
    }
    conn.accepted = true;
    if (resume) return p.locks.Resume(conn.id, session, secret);
    if (sessions) {
      p.locks.OpenSession(conn.id, session, secret, window);
    } else {
      p.locks.OpenPlain(conn.id, window);
    }
    p.locks.Lock(conn.id, resource);
  });
}

void World::Tick(Client& c) {
  if (c.believes && now_ >= c.until) {
    Forget(c, /*lost=*/true, "no proof of life within its window");
    if (c.conn != nullptr) Hangup(c);
    c.session = 0;
    c.resuming = false;
    c.phase = Client::Phase::kIdle;
    Again(c, Uniform(20 * kMs, 300 * kMs));
  }
  if (c.conn != nullptr) {
    Conn& conn = *c.conn;
    if (now_ - c.heard > c.window) {
      // A silent server: paused, or gone without a FIN.
      Hangup(c);
      Disconnected(c);
    } else {
      ToServer(conn, [this, &conn, &c, sent = now_](Process&) {
        if (!conn.accepted) return;
        conn.to_client = std::max(conn.to_client, now_ + Hop());
        At(conn.to_client, [this, &conn, &c, sent] {
          if (!conn.client_open || c.conn != &conn) return;
          c.heard = now_;
          Prove(c, sent);
        });
      });
    }
  } else if (c.resuming && !c.believes && now_ - c.heard > c.window) {
    // Its session's window has passed: nothing left to resume.
    c.resuming = false;
    c.session = 0;
    c.phase = Client::Phase::kIdle;
    Again(c, 0);
  }
  At(now_ + static_cast<Us>(std::ceil(kPingEvery / c.rate)),
     [this, &c] { Tick(c); });
}

void World::Prove(Client& c, Us sent) {
  if (c.believes && now_ >= c.until) return;  // counted lost already
  c.proof = std::max(c.proof, sent);
  const Us margin = std::max(c.window / 5, 200 * kMs);
  c.until = c.proof + static_cast<Us>(std::ceil(
                          static_cast<double>(c.window - margin) / c.rate));
}

void World::Hangup(Client& c) {
  Conn& conn = *c.conn;
  c.conn = nullptr;
  conn.client_open = false;
  conn.to_server = std::max(conn.to_server, now_ + Hop());
  Process* p = conn.server;
  p->Deliver(conn.to_server, [p, &conn] {
    if (!conn.server_open) return;
    conn.server_open = false;
    p->conns.erase(conn.id);
    p->locks.Closed(conn.id);
  });
}

void World::Disconnected(Client& c) {
  if (c.phase == Client::Phase::kIdle) {
    c.session = 0;
    return;
  }
  if (c.sessions) {
    c.resuming = true;
    return At(now_ + Uniform(10 * kMs, 100 * kMs), [this, &c, cycle = c.cycle] {
      if (c.cycle == cycle && c.resuming && c.conn == nullptr) {
        Connect(c, /*resume=*/true);
      }
    });
  }
  // A plain connection's lock is the server's to end; a held one is still
  // counted until its proof of life runs out (Tick).
  if (c.phase == Client::Phase::kHolding) return;
  c.phase = Client::Phase::kIdle;
  Again(c, Uniform(20 * kMs, 300 * kMs));
}

void World::Read(Conn& conn, const Frame& frame) {
  Client& c = clients_[conn.client];
  if (c.conn != &conn) return;
  c.heard = now_;
  Process& from = *conn.server;
  using Kind = Frame::Kind;
  switch (frame.kind) {
    case Kind::kSession:
      if (frame.resumed) {
        c.resuming = false;
        Prove(c, c.asked);
        Resumed(c, from, frame);
      }
      return;
    case Kind::kExpired:
      c.resuming = false;
      if (c.believes) Gone(c, from, "its session expired");
      Hangup(c);
      c.session = 0;
      c.phase = Client::Phase::kIdle;
      return Again(c, Uniform(20 * kMs, 300 * kMs));
    case Kind::kAnswer:
      if (c.phase != Client::Phase::kAsked) return;
      Prove(c, c.asked);
      c.id = frame.id;
      if (frame.state == LockState::kAcquired) return Hold(c, from);
      c.phase = Client::Phase::kEnqueued;
      // It waits a while, then cancels.
      At(now_ + Uniform(300 * kMs, 2 * kS), [this, &c, cycle = c.cycle] {
        if (c.cycle == cycle && c.phase == Client::Phase::kEnqueued) {
          Release(c);
        }
      });
      return;
    case Kind::kAcquired:
      if (c.phase == Client::Phase::kEnqueued && frame.id == c.id) {
        Hold(c, from);
      }
      return;
    case Kind::kReleased:
      if (c.phase == Client::Phase::kReleasing && frame.id == c.id) Done(c);
      return;
    case Kind::kRefused:
      Hangup(c);
      c.session = 0;
      c.phase = Client::Phase::kIdle;
      return Again(c, Uniform(100 * kMs, 500 * kMs));
  }
}

// The answer to a resume: the lock's state now, as the server holds it.
void World::Resumed(Client& c, Process& from, const Frame& frame) {
  const bool same = frame.id == c.id && c.id != 0;
  if (c.believes) {
    if (same && frame.state == LockState::kAcquired) return;  // still held
    if (same && frame.state == LockState::kEnqueued && Live(c)) {
      return Fail(Who(c) + " holds lock " + std::to_string(c.id) + " (" +
                  Describe(c.resource) + "), but " + from.name() +
                  " resumed its session with the lock enqueued");
    }
    Gone(c, from, "its session resumed without it");
    c.phase = Client::Phase::kIdle;
    return Again(c, Uniform(20 * kMs, 300 * kMs));
  }
  switch (c.phase) {
    case Client::Phase::kAsked:
      if (frame.id == 0) {
        // The request was lost with the connection: ask again.
        c.phase = Client::Phase::kIdle;
        return Ask(c);
      }
      c.id = frame.id;
      [[fallthrough]];
    case Client::Phase::kEnqueued:
      if (frame.id != c.id || frame.state == LockState::kNone) {
        c.phase = Client::Phase::kIdle;
        return Again(c, Uniform(20 * kMs, 300 * kMs));
      }
      if (frame.state == LockState::kAcquired) return Hold(c, from);
      c.phase = Client::Phase::kEnqueued;
      return;
    case Client::Phase::kReleasing:
      if (same && frame.state != LockState::kNone) return Release(c);
      return Done(c);
    case Client::Phase::kHolding:
    case Client::Phase::kIdle:
      return;
  }
}

// The client reads that it holds its lock.
void World::Hold(Client& c, Process& from) {
  // Fencing tokens: the resource sees IDs go up.
  for (const auto& [path, marks] : tokens_) {
    const Resource other{.access = Access::kWrite, .path = path};
    if (!Conflict(c.resource, other)) continue;
    const LockId bound = c.resource.access == Access::kWrite
                             ? std::max(marks.write, marks.read)
                             : marks.write;
    if (c.id <= bound) {
      Fail("fencing token went back: " + Who(c) + " holds lock " +
           std::to_string(c.id) + " (" + Describe(c.resource) + ") from " +
           from.name() + " after a conflicting lock " + std::to_string(bound) +
           " was held");
    }
  }
  Marks& marks = tokens_[c.resource.path];
  LockId& mark = c.resource.access == Access::kWrite ? marks.write : marks.read;
  mark = std::max(mark, c.id);
  c.believes = true;
  c.lineage = Lineage(from);
  c.phase = Client::Phase::kHolding;
  ++outcome_.locks_held;
  Log(Who(c) + " holds lock " + std::to_string(c.id) + " (" +
      Describe(c.resource) + ") from " + from.name());
  At(now_ + Uniform(30 * kMs, 600 * kMs), [this, &c, cycle = c.cycle] {
    if (c.cycle == cycle && c.phase == Client::Phase::kHolding) Release(c);
  });
}

void World::Release(Client& c) {
  if (c.believes) Forget(c, /*lost=*/false, "released");
  c.phase = Client::Phase::kReleasing;
  if (c.conn == nullptr) return;  // the resume asks again
  c.asked = now_;
  ToServer(*c.conn, [id = c.conn->id](Process& p) { p.locks.Release(id); });
}

void World::Done(Client& c) {
  c.phase = Client::Phase::kIdle;
  if (--c.locks_left <= 0 && c.conn != nullptr) {
    Hangup(c);
    c.session = 0;
  }
  Again(c, Uniform(20 * kMs, 300 * kMs));
}

void World::Forget(Client& c, bool lost, const std::string& why) {
  if (!c.believes) return;
  c.believes = false;
  if (!lost) return;
  ++outcome_.locks_lost;
  Log(Who(c) + " counts lock " + std::to_string(c.id) + " lost: " + why);
}

void World::Gone(Client& c, Process& from, const std::string& why) {
  // Within its window, from the succession of in-sync takeovers that told
  // the client it holds the lock: the lock was theirs to keep.
  if (Live(c) && Lineage(from) == c.lineage) {
    Fail(from.name() + " says " + Who(c) + "'s lock " + std::to_string(c.id) +
         " (" + Describe(c.resource) + ") is gone (" + why +
         "), within its window, though its state comes from the server "
         "that granted the lock");
  }
  Forget(c, /*lost=*/true, why + " (" + from.name() + ")");
}

// ---- the checks -------------------------------------------------------------

const std::optional<Record>& World::RecordNow() {
  if (etcd_.revision() != record_revision_) {
    record_revision_ = etcd_.revision();
    record_ = etcd_.PeekRecord(RecordKey());
  }
  return record_;
}

Process* World::LiveMember(const ha::Member& member) {
  const std::size_t dash = member.name.rfind('-');
  if (dash == std::string::npos) return nullptr;
  const int server = std::stoi(member.name.substr(dash + 1));
  if (server < 0 || server >= static_cast<int>(current_.size())) return nullptr;
  Process* p = current_[server];
  if (p->stopped || p->node.epoch() != member.revision) return nullptr;
  return p;
}

void World::Adopted(Process& p, const ha::Replica& replica,
                    std::int64_t epoch) {
  adopted_[epoch] = replica.Applied();
  // Until when the old active may still give its clients proof of life:
  // the end of its window, or its stop.
  std::optional<Us> heard_until;
  for (const auto& life : lives_) {
    if (life->node.epoch() != epoch || !life->could_grant_from) continue;
    life->superseded_at = p.elected_at;
    Us until = life->Real(life->gate.grant_until());
    if (life->stopped_at) until = std::min(until, *life->stopped_at);
    heard_until = std::max(heard_until.value_or(until), until);
  }
  const Position seen = seen_[epoch];
  if (seen > replica.Applied()) {
    Fail(p.name() + " took over in sync with epoch " + std::to_string(epoch) +
         "'s changes up to " + std::to_string(replica.Applied()) +
         ", but a client was sent the effect of position " +
         std::to_string(seen));
  }
  // Every lock a client counts held is held here, acquired.
  const std::vector<ha::Replica::Space> spaces = replica.Spaces();
  for (const Client& c : clients_) {
    if (!Live(c)) continue;
    const ha::Replica::Lock* held = nullptr;
    for (const ha::Replica::Space& space : spaces) {
      for (const ha::Replica::Lock& lock : space.locks) {
        if (lock.id == c.id) held = &lock;
      }
    }
    const bool ok = held != nullptr && held->state == LockState::kAcquired &&
                    held->resources == std::vector<Resource>{c.resource} &&
                    held->owner.session == (c.sessions ? c.session : 0);
    // Held for as long as its client may go on counting it held: its last
    // proof of life may come from the old active until then.
    const std::optional<Time> ends = p.locks.EndsAt(c.id);
    const Us margin = std::max(c.window / 5, 200 * kMs);
    const Us counted = std::max(heard_until.value_or(now_), c.proof) +
                       static_cast<Us>(std::ceil(
                           static_cast<double>(c.window - margin) / c.rate));
    if (ok && ends && p.Real(*ends) < counted) {
      Fail(p.name() + " took over in sync with " + Who(c) + "'s lock " +
           std::to_string(c.id) + " (" + Describe(c.resource) +
           "), but keeps it only until " + std::to_string(p.Real(*ends) / kMs) +
           " ms without its client, which may count it held until " +
           std::to_string(counted / kMs) + " ms");
    }
    if (!ok) {
      Fail(p.name() + " took over in sync with epoch " + std::to_string(epoch) +
           " without " + Who(c) + "'s lock " + std::to_string(c.id) + " (" +
           Describe(c.resource) + "), which its client counts held" +
           (held == nullptr ? std::string(": not in the replica")
                            : std::string(": not acquired, or not its")));
    }
  }
}

// Every change whose effect a client was sent is held by every live member
// of the record's in-sync set.
void World::CheckInSync() {
  if (!replicated_) return;
  const std::optional<Record>& record = RecordNow();
  if (!record) return;
  const auto seen = seen_.find(record->epoch);
  if (seen == seen_.end() || seen->second == 0) return;
  for (const ha::Member& member : record->in_sync) {
    if (member.revision == record->epoch) continue;  // the active
    Process* p = LiveMember(member);
    // A member that follows a later active cannot take over with this
    // epoch's locks any more: a takeover of its would be degraded.
    if (p == nullptr || p->replication->following() != record->epoch) {
      continue;
    }
    const Position applied = p->replication->applied();
    if (!p->replication->Whole(record->epoch) || applied < seen->second) {
      Fail(p->name() + ", in the in-sync set of epoch " +
           std::to_string(record->epoch) + " (version " +
           std::to_string(record->version) + "), holds " +
           (p->replication->Whole(record->epoch)
                ? "its changes up to " + std::to_string(applied)
                : std::string("no whole replica of it")) +
           ", but a client was sent the effect of position " +
           std::to_string(seen->second));
    }
  }
}

// No two clients count conflicting locks held at once.
void World::CheckClients() {
  for (std::size_t i = 0; i < clients_.size(); ++i) {
    const Client& a = clients_[i];
    if (!Live(a)) continue;
    for (std::size_t j = i + 1; j < clients_.size(); ++j) {
      const Client& b = clients_[j];
      if (!Live(b) || !Conflict(a.resource, b.resource)) continue;
      Fail(Who(a) + " and " + Who(b) + " count conflicting locks held: " +
           std::to_string(a.id) + " (" + Describe(a.resource) + ") and " +
           std::to_string(b.id) + " (" + Describe(b.resource) + ")");
    }
  }
}

std::optional<World::Span> World::Authority(const Process& p) const {
  if (!p.could_grant_from) return std::nullopt;
  Us to = p.Real(p.gate.grant_until());
  if (p.stopped_at) to = std::min(to, *p.stopped_at);
  if (p.superseded_at) to = std::min(to, *p.superseded_at);
  if (to < *p.could_grant_from) return std::nullopt;  // stopped in grace
  // Its clients may use their locks an abandon timeout past its end, unless
  // it stopped with none held (a clean shutdown drains them all), or an
  // in-sync successor holds them.
  const bool tail = !p.superseded_at && (!p.stopped_at || p.held_at_stop);
  return Span{*p.could_grant_from, to, tail ? config_.max_abandon_ms * kMs : 0};
}

void World::Check() {
  // Every life that could grant, from then to the end of its window, its
  // stop, or its in-sync successor's election, and its clients after that:
  // a later life may grant only once the earlier one's clients are done.
  for (std::size_t i = 0; i < lives_.size(); ++i) {
    const auto a = Authority(*lives_[i]);
    if (!a) continue;
    for (std::size_t j = i + 1; j < lives_.size(); ++j) {
      const auto b = Authority(*lives_[j]);
      if (!b) continue;
      const bool a_first = a->from <= b->from;
      const Span& first = a_first ? *a : *b;
      const Span& second = a_first ? *b : *a;
      if (second.from < first.to + first.tail) {
        std::ostringstream os;
        os << "two servers could grant at once (" << lives_[i]->name()
           << " and " << lives_[j]->name() << "): one from "
           << first.from / 1000 << " to " << first.to / 1000
           << " ms, its clients until " << (first.to + first.tail) / 1000
           << " ms, the other from " << second.from / 1000 << " ms";
        Fail(os.str());
      }
    }
  }
  CheckClients();
  CheckInSync();
}

void World::Fault() {
  ++outcome_.faults;
  const int server = static_cast<int>(Uniform(0, config_.servers - 1));
  Process& p = *current_[server];
  const std::string who = p.name();
  // The active, most of the time: that is where faults matter.
  Process* active = nullptr;
  for (Process* q : current_) {
    if (!q->stopped && server::ha::TakesClients(q->role)) active = q;
  }
  Process& target = active != nullptr && Chance(0.7) ? *active : p;
  const std::string t = target.name();
  const Us grace = (config_.ttl_ms + config_.max_abandon_ms) * kMs;
  Us kind = Uniform(0, 13);
  // Without replication there are no links to upset.
  if (!replicated_ && (kind == 11 || kind == 12)) kind = 13;
  switch (kind) {
    case 0:
      Log("fault: kill -9 " + t);
      Stopped(target, /*restart=*/true);
      break;
    case 1: {
      const Us pause = Uniform(50 * kMs, 2 * grace);
      Log("fault: SIGSTOP " + t + " for " + std::to_string(pause / 1000) +
          " ms");
      target.paused_until = std::max(target.paused_until, now_ + pause);
      IdleLinks(target);
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
        target.locks.Drain();
        if (target.Idle()) target.Resign();
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
      IdleLinks(target);
      break;
    }
    case 10: {
      // A standby crashes under load; it comes back with empty memory and
      // a new candidacy, and joins again by snapshot.
      Process* standby = nullptr;
      for (Process* q : current_) {
        if (!q->stopped && q->role == Role::kStandby) standby = q;
      }
      Process& victim = standby != nullptr ? *standby : p;
      Log("fault: kill -9 " + victim.name() +
          (standby != nullptr ? " (a standby)" : ""));
      Stopped(victim, /*restart=*/true);
      break;
    }
    case 11: {
      // Cut without a FIN: each end times out; the active's ack bound
      // drops the standby first.
      Log("fault: the replication links of " + t + " cut");
      for (const std::shared_ptr<Link>& link : links_) {
        if (link->standby != &target && link->active != &target) continue;
        link->cut = true;
        for (const bool standby_end : {true, false}) {
          Process* end = standby_end ? link->standby : link->active;
          if (end == nullptr) continue;
          end->Deliver(now_ + kIdle, [this, link, standby_end] {
            End(link, standby_end, "idle: the link is cut", /*fin=*/false);
          });
        }
      }
      break;
    }
    case 12: {
      const Us lossy = Uniform(500 * kMs, 5 * kS);
      Log("fault: the replication messages of " + t +
          " lost, duplicated and reordered for " +
          std::to_string(lossy / 1000) + " ms");
      target.lossy_until = std::max(target.lossy_until, now_ + lossy);
      break;
    }
    case 13: {
      if (clients_.empty()) break;
      Client& c = clients_[Uniform(0, static_cast<Us>(clients_.size()) - 1)];
      if (c.conn == nullptr) break;
      Log("fault: " + Who(c) + "'s connection drops");
      Hangup(c);
      Disconnected(c);
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
  // Clients, each on its own clock; a third of them on plain connections.
  // Windows from a little over the client's margin plus a few pings up to
  // the largest abandon timeout, half of them short: a short window is
  // what a failover tests hardest.
  const Us longest = std::max<Us>(700, config_.max_abandon_ms);
  for (int i = 0; i < config_.clients; ++i) {
    Client c;
    c.index = i;
    c.rate = 1 + std::uniform_real_distribution<double>(-config_.drift,
                                                        config_.drift)(rng_);
    c.sessions = i % 3 != 2;
    c.window =
        Uniform(700, i % 2 == 0 ? std::min<Us>(1000, longest) : longest) * kMs;
    clients_.push_back(std::move(c));
  }
  for (Client& c : clients_) {
    At(Uniform(0, kS), [this, &c] { Tick(c); });
    Again(c, Uniform(100 * kMs, kS));
  }
  const Us end = static_cast<Us>(config_.seconds * kS);
  const Us quiet = end - static_cast<Us>(config_.quiet_seconds * kS);
  // Faults at random moments until the quiet part.
  for (Us t = Uniform(kS, 3 * kS); t < quiet;
       t += Uniform(kS / 4, static_cast<Us>(2 * config_.fault_every_s * kS))) {
    At(t, [this] { Fault(); });
  }
  // Events at one instant, in a row: a server that spins without time
  // passing never lets a round end.
  std::uint64_t same_instant = 0;
  while (!queue_.empty() && failure_.empty()) {
    Event e = queue_.top();
    queue_.pop();
    if (e.when > end) break;
    same_instant = e.when == now_ ? same_instant + 1 : 0;
    if (same_instant > 1'000'000) {
      Fail("a million events at one instant: something spins");
      break;
    }
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
    if (!p->took_over) continue;
    switch (*p->took_over) {
      case Takeover::kInSync:
        ++outcome_.in_sync;
        break;
      case Takeover::kDegraded:
        ++outcome_.degraded;
        break;
      case Takeover::kClean:
        ++outcome_.clean;
        break;
    }
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

bool Replicates(const HaConfig& config, std::uint64_t seed) {
  switch (config.replication) {
    case Replication::kAlways:
      return true;
    case Replication::kNever:
      return false;
    case Replication::kMixed:
      break;
  }
  return seed % 4 != 0;
}

}  // namespace locktopus::simulate
