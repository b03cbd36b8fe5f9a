// Property test of replication (server/core/ha/replication.h): random
// programs run against a real LockService and SessionTable with a
// ChangeLog, through the server's own connections and sessions over fake
// transports, while a Replica follows the log. After every step the
// replica must equal the active: the same namespaces with live locks, the
// same live locks (ID, resources, acquired or enqueued, owner), the same
// last IDs, the same open sessions.
//
// Programs, over three namespaces and five clients (the first two with
// sessions): connect to a namespace, lock, release (or cancel), close (a
// plain connection abandons its lock for 0 or 1000 ms, a session detaches
// for its window), let a pending abandon timer or window pass, force-release
// a live lock, raise the group's ID floor (namespaces opened from then on
// start above it), drain (every client closes and every timer fires: every
// namespace is freed), load a fresh replica from a snapshot, trim the log to
// what the replica has, or trim all of it before the replica has it (it
// must take a snapshot). Namespaces are freed and opened again as their
// last holds go. The follower's link is lossy: a change may be lost (the
// replica refuses the gap and catches up from where it is, as after a
// reconnect) and applied changes are delivered again (ignored).
//
// Runs in property_test's binary (its main sets RapidCheck's defaults).

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "server/core/connection.h"
#include "server/core/force_release.h"
#include "server/core/ha/replication.h"
#include "server/core/lock_service.h"
#include "server/core/session.h"
#include "tests/fake_io.h"
#include "tests/replication_support.h"
#include "wire/codec.h"

namespace locktopus {
namespace {

using server::ha::ChangeLog;
using server::ha::Owner;
using server::ha::Position;
using server::ha::Replica;
using server::ha::ReplicatedState;
using Outcome = Replica::Outcome;

constexpr std::size_t kClients = 5;
constexpr std::size_t kSessionClients = 2;  // clients 0 and 1
const std::array<std::string, 3> kNames = {"n0", "n1", "n2"};

struct Op {
  enum Kind {
    kConnect,
    kLock,
    kRelease,
    kClose,
    kFire,
    kForce,
    kFloor,
    kSnapshot,
    kTrim,
    kDrain,
  };
  Kind kind = kLock;
  std::size_t client = 0;
  std::size_t ns = 0;
  bool long_timeout = false;  // 1000 ms rather than 0
  std::vector<Resource> resources;
  std::uint32_t seed = 0;  // picks, and the follower's losses and repeats
  bool trim_all = false;   // the log is trimmed before the follower reads
};

std::ostream& operator<<(std::ostream& os, const Op& op) {
  static constexpr std::array<const char*, 10> kKinds = {
      "connect", "lock",  "release",  "close", "fire",
      "force",   "floor", "snapshot", "trim",  "drain"};
  os << kKinds[op.kind] << " client " << op.client;
  if (op.kind == Op::kConnect) {
    os << " to " << kNames[op.ns] << (op.long_timeout ? " 1000 ms" : " 0 ms");
  }
  if (op.kind == Op::kLock) os << " " << ToString(op.resources);
  os << " seed " << op.seed;
  if (op.trim_all) os << ", log trimmed before the follower reads it";
  return os;
}

rc::Gen<Resource> GenResource() {
  return rc::gen::build<Resource>(
      rc::gen::set(&Resource::access,
                   rc::gen::element(Access::kRead, Access::kWrite)),
      rc::gen::set(&Resource::path,
                   rc::gen::mapcat(rc::gen::inRange(0, 3), [](int depth) {
                     return rc::gen::container<Path>(
                         depth, rc::gen::element<std::string>("a", "b"));
                   })));
}

rc::Gen<Op> GenOp() {
  return rc::gen::build<Op>(
      rc::gen::set(&Op::kind, rc::gen::weightedElement<Op::Kind>({
                                  {4, Op::kConnect},
                                  {6, Op::kLock},
                                  {3, Op::kRelease},
                                  {3, Op::kClose},
                                  {3, Op::kFire},
                                  {1, Op::kForce},
                                  {1, Op::kFloor},
                                  {1, Op::kSnapshot},
                                  {1, Op::kTrim},
                                  {2, Op::kDrain},
                              })),
      rc::gen::set(&Op::client, rc::gen::inRange<std::size_t>(0, kClients)),
      rc::gen::set(&Op::ns, rc::gen::inRange<std::size_t>(0, kNames.size())),
      rc::gen::set(&Op::long_timeout, rc::gen::arbitrary<bool>()),
      rc::gen::set(
          &Op::resources,
          rc::gen::mapcat(rc::gen::inRange(1, 3),
                          [](int n) {
                            return rc::gen::container<std::vector<Resource>>(
                                n, GenResource());
                          })),
      rc::gen::set(&Op::seed, rc::gen::arbitrary<std::uint32_t>()),
      rc::gen::set(&Op::trim_all,
                   rc::gen::map(rc::gen::inRange(0, 10),
                                [](int roll) { return roll == 0; })));
}

// The active server's side: the lock service and the session table with
// their log, and the clients over fake transports.
struct Active {
  struct Client {
    std::shared_ptr<testing::FakeIo> io;
    std::unique_ptr<server::Connection> conn;        // a plain client's
    std::shared_ptr<server::ClientSession> session;  // a session client's
    bool live = false;
    bool has_lock = false;
    std::string ns;
    std::uint64_t timeout_ms = 0;  // abandon timeout; a session's window
  };
  // An abandon timer or a session's window, set and not yet fired.
  struct Timer {
    std::function<void()> fire;
    std::uint64_t session = 0;  // the session it ends; 0: an abandon timer
  };

  Active() {
    configs[0].abandon_timeout = std::chrono::milliseconds(0);
    configs[1].abandon_timeout = std::chrono::milliseconds(1000);
  }
  ~Active() {
    // Every session's Connection ends while its namespace lives.
    for (Client& client : clients) {
      if (client.session != nullptr) client.session->OnClosed(client.io.get());
    }
  }

  ChangeLog log;  // first: outlives everything that appends to it
  std::shared_ptr<server::LockService> service =
      std::make_shared<server::LockService>(
          std::numeric_limits<std::uint64_t>::max(), &log);
  std::shared_ptr<server::SessionTable> table =
      std::make_shared<server::SessionTable>(1000, nullptr, &log);
  std::array<server::ConnectionConfig, 2> configs;
  std::array<Client, kClients> clients;
  std::vector<Timer> timers;
  LockId floor = 0;
  std::set<std::string> opened;  // the names opened so far
  int reopened = 0;              // openings of a name freed before
  // Whom every lock was requested for, and the sessions open, as the
  // clients know them.
  testing::Owners owners;
  std::map<std::uint64_t, ReplicatedState::Session> sessions;

  // Hands the transport's timers to the pending ones, for `session` (0:
  // abandon timers).
  void TakeTimers(Client& client, std::uint64_t session) {
    for (auto& [delay, fire] : std::exchange(client.io->timers, {})) {
      timers.push_back({std::move(fire), session});
    }
  }

  // Pending timer `i` fires.
  void Fire(std::size_t i) {
    Timer timer = std::move(timers[i]);
    timers.erase(timers.begin() + static_cast<std::ptrdiff_t>(i));
    timer.fire();
    if (timer.session != 0) sessions.erase(timer.session);
  }

  // The transport of a live client ends.
  void Close(Client& client) {
    if (client.session != nullptr) {
      client.session->OnClosed(client.io.get());
      TakeTimers(client, client.session->token().id);
      client.session.reset();
    } else {
      client.conn->OnClosed();
      TakeTimers(client, 0);
      client.conn.reset();
    }
    client.live = false;
    client.has_lock = false;
  }

  // Delivers the notices every live client's transport was told, as the
  // network shell does on its strand; a client closed with 4000 by a force
  // release is closed.
  void Settle() {
    for (Client& client : clients) {
      if (!client.live) continue;
      if (client.session == nullptr) {
        testing::Deliver(*client.io, *client.conn);
      } else {
        for (LockId id : std::exchange(client.io->notices, {})) {
          client.session->OnAcquired(client.io.get(), id);
        }
        for (LockId id : std::exchange(client.io->force_released, {})) {
          client.session->OnForceReleased(client.io.get(), id);
        }
      }
      if (client.io->closed_with == server::kForceReleasedCloseCode) {
        Close(client);
      }
    }
  }

  void Run(const Op& op) {
    Client& client = clients[op.client];
    const bool session = op.client < kSessionClients;
    std::mt19937 rng(op.seed);
    switch (op.kind) {
      case Op::kConnect: {
        if (client.live) break;
        const server::ConnectionConfig& config = configs[op.long_timeout];
        client.io = std::make_shared<testing::FakeIo>();
        client.ns = kNames[op.ns];
        if (!service->Find(client.ns) && !opened.insert(client.ns).second) {
          ++reopened;
        }
        client.timeout_ms =
            static_cast<std::uint64_t>(config.abandon_timeout.count());
        if (session) {
          client.session = table->Create(service->Open(client.ns), config);
          RC_ASSERT(client.session != nullptr);
          RC_ASSERT(client.session->Attach(client.io, nullptr));
          const server::SessionToken& token = client.session->token();
          sessions[token.id] = {.secret = token.secret,
                                .ns = client.ns,
                                .window_ms = client.timeout_ms};
        } else {
          client.conn = std::make_unique<server::Connection>(
              service->Open(client.ns), config, *client.io, client.io);
        }
        client.live = true;
        break;
      }
      case Op::kLock: {
        if (!client.live || client.has_lock) break;
        const std::string frame = wire::FormatLock(op.resources);
        if (client.session != nullptr) {
          client.session->OnFrame(client.io.get(), frame);
        } else {
          client.conn->OnFrame(frame);
        }
        const auto answer = wire::ParseServerMessage(client.io->sent.back());
        RC_ASSERT(answer.has_value());
        const LockId id = std::get<wire::Answer>(*answer).id;
        owners[{client.ns, id}] =
            Owner{.session = session ? client.session->token().id : 0,
                  .timeout_ms = client.timeout_ms};
        client.has_lock = true;
        break;
      }
      case Op::kRelease:
        if (!client.live || !client.has_lock) break;
        if (client.session != nullptr) {
          client.session->OnFrame(client.io.get(), testing::kRelease);
        } else {
          client.conn->OnFrame(testing::kRelease);
        }
        client.has_lock = false;
        break;
      case Op::kClose:
        if (client.live) Close(client);
        break;
      case Op::kFire: {
        if (timers.empty()) break;
        Fire(rng() % timers.size());
        break;
      }
      case Op::kForce: {
        std::vector<std::pair<std::string, LockId>> live;
        for (const auto& space : testing::ActiveSpaces(*service, {})) {
          for (const auto& lock : space.locks)
            live.push_back({space.name, lock.id});
        }
        if (live.empty()) break;
        const auto& [ns, id] = live[rng() % live.size()];
        RC_ASSERT(server::ForceRelease(*service, ns, id).has_value());
        break;
      }
      case Op::kFloor:
        floor += 1 + rng() % 20;
        service->SetIdFloor(floor);
        break;
      case Op::kDrain:
        // Every hold goes: every namespace is freed.
        for (Client& c : clients) {
          if (c.live) Close(c);
        }
        while (!timers.empty()) Fire(timers.size() - 1);
        RC_ASSERT(service->open() == 0u);
        break;
      case Op::kSnapshot:
      case Op::kTrim:
        break;  // the follower's
    }
    Settle();
  }
};

// The standby's side: a replica fed the log over a lossy link.
struct Follower {
  Replica replica;

  // Brings the replica to the log's end: each change may be lost (the
  // replica then refuses the next one as a gap, and the follower reads
  // again from where the replica is, as after a reconnect) and each applied
  // one may come again, or an earlier one of the same read (ignored). A
  // follower the log was trimmed past loads a snapshot.
  void Follow(const ChangeLog& log, std::uint32_t seed) {
    std::mt19937 rng(seed);
    for (int reads = 0; replica.Applied() < log.last(); ++reads) {
      const bool lossy = reads < 4;  // then it gets through
      const auto changes = log.From(replica.Applied() + 1);
      if (!changes) {
        RC_ASSERT(replica.Load(log.Snapshot()).ok());
        continue;
      }
      const Position first = replica.Applied() + 1;
      for (std::size_t i = 0; i < changes->size(); ++i) {
        if (lossy && rng() % 8 == 0) continue;  // lost
        const Outcome outcome = replica.Apply(first + i, (*changes)[i]);
        if (outcome == Outcome::kDiverged) RC_FAIL(replica.divergence());
        if (outcome == Outcome::kGap) break;  // reconnect
        RC_ASSERT(outcome == Outcome::kApplied);
        if (rng() % 4 == 0) {
          const std::size_t again = rng() % (i + 1);
          RC_ASSERT(replica.Apply(first + again, (*changes)[again]) ==
                    Outcome::kDuplicate);
        }
      }
    }
  }
};

// The replica holds what the active holds.
void CheckEqual(const Active& active, const Replica& replica) {
  RC_ASSERT(replica.divergence().empty());
  RC_ASSERT(replica.Applied() == active.log.last());
  RC_ASSERT(replica.Spaces() ==
            testing::ActiveSpaces(*active.service, active.owners));
  RC_ASSERT(replica.sessions() == active.sessions);
}

RC_GTEST_PROP(ReplicaMatchesActive, RandomPrograms, ()) {
  const auto program = *rc::gen::container<std::vector<Op>>(GenOp());
  Active active;
  Follower follower;
  for (const Op& op : program) {
    active.Run(op);
    if (op.kind == Op::kSnapshot) {
      follower.replica = Replica();
      RC_ASSERT(follower.replica.Load(active.log.Snapshot()).ok());
    }
    if (op.kind == Op::kTrim) active.log.Trim(follower.replica.Applied());
    if (op.trim_all) active.log.Trim(active.log.last());
    follower.Follow(active.log, op.seed);
    CheckEqual(active, follower.replica);
    // The log's own state, as a joining follower would get it.
    Replica joining;
    RC_ASSERT(joining.Load(active.log.Snapshot()).ok());
    CheckEqual(active, joining);
  }
  RC_CLASSIFY(active.reopened > 0, "a namespace freed and opened again");
}

}  // namespace
}  // namespace locktopus
