// The lock state of one simulated server (ha_simulation.h): a small model
// of the server's LockService, SessionTable and Connections
// (server/core/lock_service.h, session.h, connection.h, adopt.h) over the
// real engine, with the same rules where the HA checks look:
//
//   - one namespace; a client connection holds at most one lock, either in
//     a session (detached for its window when its connection ends,
//     resumable by its token, its lock kept) or plain (an acquired lock
//     abandoned for its timeout, an enqueued one cancelled);
//   - every change of lock state is appended to the server's ChangeLog, if
//     it has one, in the engine's step order;
//   - an acquisition is announced only if the grant gate says so
//     (GrantGate::Announce), as Connection::MayAnnounce does, and an ID
//     above the gate's durable ceiling is ended and refused;
//   - adoption (an in-sync takeover) rebuilds the replica's locks in ID
//     order with the same IDs and detaches its sessions, each window and
//     abandon timeout restarted and lengthened by `extend`.
//
// Frames to clients go through Io::Send, which the simulation holds back
// until the changes before them are committed (ha/commit_gate.h).
//
// Thread safety: none; the simulation runs one event at a time.

#ifndef LOCKTOPUS_SIMULATE_HA_FAKE_LOCKS_H_
#define LOCKTOPUS_SIMULATE_HA_FAKE_LOCKS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "engine/engine.h"
#include "engine/types.h"
#include "server/core/ha/gate.h"
#include "server/core/ha/replication.h"
#include "util/result.h"

namespace locktopus::simulate {

// One client connection to one server, unique in a round.
using ConnId = std::uint64_t;

// What a server writes to a client.
struct Frame {
  enum class Kind {
    kSession,   // a session opened or resumed: `state` is its lock's
    kExpired,   // a resume found no such session (4410), then closed
    kAnswer,    // the answer to a lock request: `state`
    kAcquired,  // an enqueued lock was acquired
    kReleased,  // the answer to a release
    kRefused,   // the request was refused (draining, ceiling), then closed
  };
  Kind kind = Kind::kAnswer;
  LockId id = 0;
  LockState state = LockState::kNone;
  bool resumed = false;  // kSession
  // An acquisition: written only while the grant gate grants
  // (GrantGate::Granting), else the connection is dropped instead.
  bool grant = false;
  bool close = false;  // the server closes the connection after it
};

class FakeLocks {
 public:
  class Io {
   public:
    virtual ~Io() = default;
    virtual server::ha::Time LocalNow() = 0;
    virtual void LocalAfter(std::chrono::milliseconds delay,
                            std::function<void()> fn) = 0;
    // Queues `frame` on `conn` (nothing if it is closed).
    virtual void Send(ConnId conn, const Frame& frame) = 0;
    // Closes `conn` at once (a resume took its session over: 4409).
    virtual void Drop(ConnId conn) = 0;
    // A lock ended: a drain may be over.
    virtual void LockEnded() {}
  };

  static constexpr const char* kNamespace = "n";

  // `log` and `gate` may be null: no replication, no HA.
  FakeLocks(server::ha::ChangeLog* log, server::ha::GrantGate* gate, Io& io);
  FakeLocks(const FakeLocks&) = delete;
  FakeLocks& operator=(const FakeLocks&) = delete;

  // Every namespace opened from now on starts its IDs above `floor`.
  void SetIdFloor(LockId floor) { floor_ = std::max(floor_, floor); }
  // No new lock from now on.
  void Drain() { draining_ = true; }

  // A connection opens session `session` (a new token) with `window`.
  void OpenSession(ConnId conn, std::uint64_t session, std::string secret,
                   std::chrono::milliseconds window);
  // A connection presents session `session`'s token.
  void Resume(ConnId conn, std::uint64_t session, const std::string& secret);
  // A plain connection, its lock abandoned for `timeout` when it ends.
  void OpenPlain(ConnId conn, std::chrono::milliseconds timeout);
  void Lock(ConnId conn, const Resource& resource);
  void Release(ConnId conn);
  // The connection's transport ended, as the server noticed.
  void Closed(ConnId conn);

  // Serves from `replica` (server::AdoptReplica's rules): every session
  // detached, every window and abandon timeout restarted now and
  // lengthened by `extend`. Before any other call.
  Status Adopt(const server::ha::Replica& replica,
               std::chrono::milliseconds extend);

  std::size_t LiveLocks() const;
  // Lock `id`'s state in the engine now (kNone if not live).
  LockState StateOf(LockId id) const;
  // When lock `id` ends unless its client comes back: its session's window,
  // or its abandon timeout, on this server's clock. nullopt while its
  // connection is open, or if it is not live.
  std::optional<server::ha::Time> EndsAt(LockId id) const;

 private:
  // A Connection: a session's or a plain connection's.
  struct Holder {
    std::uint64_t session = 0;  // 0: plain
    std::string secret;
    std::uint64_t timeout_ms = 0;  // the session's window, or abandon
    ConnId conn = 0;               // 0: detached, or closed
    LockId lock = 0;
    // What the connection knows: kEnqueued until an acquisition may be
    // announced.
    LockState state = LockState::kNone;
    std::uint64_t detachment = 0;
    server::ha::Time ends;  // detached or abandoned: when the timer fires
  };
  class Waiter;

  LockSpace& Space();
  void Append(server::ha::Change change);
  // Ends lock `id` in the engine, logs it, and announces what it acquired.
  void End(LockId id);
  void OnAcquired(LockId id);
  bool MayAnnounce(LockId id);
  void Detach(std::uint64_t key, std::chrono::milliseconds window);
  void Expire(std::uint64_t key, std::uint64_t detachment);
  void Abandon(std::uint64_t key, std::chrono::milliseconds timeout);
  // Frees the namespace once nothing holds it and no lock is live.
  void MaybeFree();
  Holder* Find(ConnId conn);

  server::ha::ChangeLog* const log_;
  server::ha::GrantGate* const gate_;
  Io& io_;
  std::shared_ptr<Waiter> waiter_;
  std::unique_ptr<LockSpace> space_;
  LockId floor_ = 0;
  LockId mark_ = 0;  // the last ID of the namespace when it was freed
  bool draining_ = false;
  std::map<std::uint64_t, Holder> holders_;  // by session ID, or plain key
  std::map<ConnId, std::uint64_t> conns_;    // open connections' holders
  std::map<LockId, std::uint64_t> owners_;   // live locks' holders
  std::uint64_t next_plain_ = 0;
};

}  // namespace locktopus::simulate

#endif  // LOCKTOPUS_SIMULATE_HA_FAKE_LOCKS_H_
