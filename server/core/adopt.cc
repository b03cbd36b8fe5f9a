#include "server/core/adopt.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/core/log.h"

namespace locktopus::server {
namespace {

using std::chrono::milliseconds;

Error Refused(std::string why) {
  return Error{Error::Code::kRejected,
               "cannot adopt the replica: " + std::move(why)};
}

// A window or abandon timeout of the predecessor's, counted again from the
// takeover and lengthened by `extend`: a failover may lengthen it, never
// shorten it (docs/semantics.md, Sessions).
milliseconds Restarted(std::uint64_t timeout_ms, milliseconds extend) {
  return milliseconds(timeout_ms) + extend;
}

// The transport of a plain connection that dropped at the takeover: nothing
// is sent through it, and its lock's abandon timer runs on `after`.
class DroppedIo final : public ConnectionIo {
 public:
  explicit DroppedIo(const TimerFn& after) : after_(after) {}
  void Send(std::string) override {}
  void SendGrant(std::string) override {}
  void Close(std::uint16_t, std::string_view) override {}
  ha::Time Now() override { return ha::Clock::now(); }
  void After(milliseconds delay, std::function<void()> fn) override {
    after_(delay, std::move(fn));
  }

 private:
  const TimerFn& after_;
};

// What AdoptReplica refuses before it changes anything.
Status Check(const ha::Replica& replica,
             const std::vector<ha::Replica::Space>& spaces,
             const LockService& locks, const SessionTable& sessions) {
  if (!replica.divergence().empty()) {
    return Refused("it has diverged: " + replica.divergence());
  }
  std::map<std::uint64_t, LockId> lock_of;  // by session
  for (const ha::Replica::Space& space : spaces) {
    if (locks.Find(space.name)) {
      return Refused("namespace [" + space.name + "] is open already");
    }
    for (const ha::Replica::Lock& lock : space.locks) {
      const std::uint64_t session = lock.owner.session;
      if (session == 0) continue;
      if (!replica.sessions().contains(session)) {
        return Refused("lock " + std::to_string(lock.id) + " of [" +
                       space.name + "] belongs to no open session");
      }
      if (!lock_of.emplace(session, lock.id).second) {
        return Refused("locks " + std::to_string(lock_of[session]) + " and " +
                       std::to_string(lock.id) + " of [" + space.name +
                       "] belong to one session");
      }
    }
  }
  for (const auto& [id, session] : replica.sessions()) {
    if (sessions.Contains(id)) {
      return Refused("a session of [" + session.ns + "] is live already");
    }
  }
  return {};
}

// An acquired lock of a plain connection, rebuilt as that connection's and
// abandoned as when it drops: released after its abandon timeout,
// restarted and lengthened by `extend`. False if the engine gave another
// ID.
bool Abandon(const NamespaceHold& ns, const ha::Replica::Lock& lock,
             milliseconds extend, const ConnectionConfig& config,
             const TimerFn& after) {
  ConnectionConfig plain = config;
  plain.abandon_timeout = Restarted(lock.owner.timeout_ms, extend);
  plain.holder = nullptr;
  plain.session = false;
  plain.session_id = 0;
  DroppedIo io(after);
  Connection connection(ns, plain, io, LockHolderRef());
  if (!connection.Adopt(lock.id, lock.resources, lock.owner)) return false;
  connection.OnClosed();
  return true;
}

}  // namespace

Status AdoptReplica(const ha::Replica& replica, milliseconds extend,
                    LockService& locks, SessionTable& sessions,
                    const ConnectionConfig& config, const TimerFn& after) {
  const std::vector<ha::Replica::Space> spaces = replica.Spaces();
  if (Status status = Check(replica, spaces, locks, sessions); !status.ok()) {
    return status;
  }

  // Every namespace of the replica, open from the ID before its first lock
  // on, and held until its locks are rebuilt.
  std::map<std::string, NamespaceHold, std::less<>> holds;
  for (const ha::Replica::Space& space : spaces) {
    const LockId before =
        space.locks.empty() ? space.last_id : space.locks.front().id - 1;
    NamespaceHold hold = locks.OpenAt(space.name, before);
    if (!hold)
      return Refused("namespace [" + space.name + "] opened meanwhile");
    holds.emplace(space.name, std::move(hold));
  }

  // The sessions first: each opening precedes its lock in the log.
  std::map<std::uint64_t, std::shared_ptr<ClientSession>> adopted;
  for (const auto& [id, session] : replica.sessions()) {
    auto held = holds.find(session.ns);
    NamespaceHold ns =
        held != holds.end() ? held->second : locks.Open(session.ns);
    ConnectionConfig session_config = config;
    session_config.abandon_timeout = milliseconds(session.window_ms);
    session_config.holder = nullptr;
    std::shared_ptr<ClientSession> made =
        sessions.Adopt(SessionToken{.id = id, .secret = session.secret},
                       std::move(ns), session_config);
    if (made == nullptr) {
      return Refused("a session of [" + session.ns + "] is live already");
    }
    adopted.emplace(id, std::move(made));
  }

  // Each namespace's locks in ID order, so that each request finds exactly
  // the earlier live locks, and so gets the engine's state for it now.
  std::size_t kept = 0;
  std::size_t abandoned = 0;
  std::size_t cancelled = 0;
  for (const ha::Replica::Space& space : spaces) {
    const NamespaceHold& ns = holds.at(space.name);
    for (const ha::Replica::Lock& lock : space.locks) {
      const bool session = lock.owner.session != 0;
      if (!session && lock.state != LockState::kAcquired) {
        ++cancelled;  // its connection dropped while it waited
        continue;
      }
      ns->SkipTo(lock.id - 1);
      const bool made =
          session ? adopted.at(lock.owner.session)
                        ->AdoptLock(lock.id, lock.resources, lock.owner)
                  : Abandon(ns, lock, extend, config, after);
      if (!made) {
        return Refused("namespace [" + space.name + "] did not give lock " +
                       std::to_string(lock.id) + " its ID");
      }
      ++(session ? kept : abandoned);
    }
    ns->SkipTo(space.last_id);
  }

  for (const auto& [id, session] : adopted) {
    session->AdoptDetached(
        Restarted(replica.sessions().at(id).window_ms, extend), after);
  }
  LogInfo("took over " + std::to_string(adopted.size()) + " sessions (" +
          std::to_string(kept) + " with a lock) and " +
          std::to_string(abandoned) +
          " acquired locks of dropped connections, in " +
          std::to_string(spaces.size()) + " namespaces; cancelled " +
          std::to_string(cancelled) +
          " enqueued locks of dropped connections; every window and abandon "
          "timeout restarted and lengthened by " +
          std::to_string(extend.count()) + " ms");
  return {};
}

}  // namespace locktopus::server
