#include "simulate/ha/fake_locks.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace locktopus::simulate {

namespace ha = server::ha;
using std::chrono::milliseconds;

// An acquisition held in the grace is announced when it ends
// (GrantGate::EndGrace): posted, as a connection's notice is.
class FakeLocks::Waiter final : public locktopus::Waiter {
 public:
  explicit Waiter(FakeLocks& locks) : locks_(locks) {}
  void Notify(LockId id) override {
    locks_.io_.LocalAfter(milliseconds(0),
                          [l = &locks_, id] { l->OnAcquired(id); });
  }

 private:
  FakeLocks& locks_;
};

FakeLocks::FakeLocks(ha::ChangeLog* log, ha::GrantGate* gate, Io& io)
    : log_(log),
      gate_(gate),
      io_(io),
      waiter_(std::make_shared<Waiter>(*this)) {}

LockSpace& FakeLocks::Space() {
  if (space_ == nullptr) {
    space_ = std::make_unique<LockSpace>(std::max(floor_, mark_));
  }
  return *space_;
}

void FakeLocks::Append(ha::Change change) {
  if (log_ != nullptr) log_->Append(std::move(change));
}

FakeLocks::Holder* FakeLocks::Find(ConnId conn) {
  const auto it = conns_.find(conn);
  return it == conns_.end() ? nullptr : &holders_.at(it->second);
}

void FakeLocks::OpenSession(ConnId conn, std::uint64_t session,
                            std::string secret, milliseconds window) {
  if (holders_.contains(session)) return;
  Space();  // a session holds its namespace
  Append(ha::SessionOpened{
      .id = session,
      .secret = secret,
      .ns = kNamespace,
      .window_ms = static_cast<std::uint64_t>(window.count())});
  holders_[session] =
      Holder{.session = session,
             .secret = std::move(secret),
             .timeout_ms = static_cast<std::uint64_t>(window.count()),
             .conn = conn};
  conns_[conn] = session;
  io_.Send(conn, {.kind = Frame::Kind::kSession});
}

void FakeLocks::Resume(ConnId conn, std::uint64_t session,
                       const std::string& secret) {
  const auto it = holders_.find(session);
  if (session == 0 || it == holders_.end() || it->second.secret != secret) {
    io_.Send(conn, {.kind = Frame::Kind::kExpired, .close = true});
    return;
  }
  Holder& h = it->second;
  // One voice: the older connection is closed before the new one hears.
  if (h.conn != 0) {
    const ConnId old = h.conn;
    conns_.erase(old);
    h.conn = 0;
    io_.Drop(old);
  }
  ++h.detachment;
  h.conn = conn;
  conns_[conn] = session;
  // Connection::Attach: an acquisition made while detached is announced
  // now, if the gate lets it.
  if (h.state == LockState::kEnqueued &&
      StateOf(h.lock) == LockState::kAcquired && MayAnnounce(h.lock)) {
    h.state = LockState::kAcquired;
  }
  io_.Send(conn, {.kind = Frame::Kind::kSession,
                  .id = h.lock,
                  .state = h.state,
                  .resumed = true,
                  .grant = h.state == LockState::kAcquired});
}

void FakeLocks::OpenPlain(ConnId conn, milliseconds timeout) {
  const std::uint64_t key = (std::uint64_t{1} << 63) | ++next_plain_;
  Space();
  holders_[key] = Holder{
      .timeout_ms = static_cast<std::uint64_t>(timeout.count()), .conn = conn};
  conns_[conn] = key;
}

void FakeLocks::Lock(ConnId conn, const Resource& resource) {
  Holder* h = Find(conn);
  if (h == nullptr || h->state != LockState::kNone) return;
  if (draining_) {
    io_.Send(conn, {.kind = Frame::Kind::kRefused, .close = true});
    return;
  }
  const std::uint64_t key = conns_.at(conn);
  const std::vector<Resource> resources = {resource};
  const RequestResult r = Space().Request(resources, waiter_);
  Append(ha::LockRequested{
      .ns = kNamespace,
      .id = r.id,
      .resources = resources,
      .owner = {.session = h->session, .timeout_ms = h->timeout_ms},
      .acquired = r.acquired});
  if (gate_ != nullptr) gate_->NoteIssued(r.id);
  if (gate_ != nullptr && r.id > gate_->id_limit()) {
    // Above the durable ceiling: ended, and refused.
    End(r.id);
    io_.Send(conn, {.kind = Frame::Kind::kRefused, .close = true});
    return;
  }
  h = &holders_.at(key);
  h->lock = r.id;
  owners_[r.id] = key;
  const bool acquired = r.acquired && MayAnnounce(r.id);
  h->state = acquired ? LockState::kAcquired : LockState::kEnqueued;
  io_.Send(conn, {.kind = Frame::Kind::kAnswer,
                  .id = r.id,
                  .state = h->state,
                  .grant = acquired});
}

void FakeLocks::Release(ConnId conn) {
  Holder* h = Find(conn);
  if (h == nullptr || h->state == LockState::kNone) return;
  const LockId id = std::exchange(h->lock, 0);
  h->state = LockState::kNone;
  owners_.erase(id);
  End(id);
  io_.Send(conn, {.kind = Frame::Kind::kReleased, .id = id});
}

void FakeLocks::End(LockId id) {
  if (space_ == nullptr) return;
  const ReleaseResult result = space_->Release(id);
  if (!result.found) return;
  Append(ha::LockEnded{.ns = kNamespace, .id = id});
  owners_.erase(id);
  for (const Acquisition& a : result.acquired) OnAcquired(a.id);
  io_.LockEnded();
  MaybeFree();
}

void FakeLocks::OnAcquired(LockId id) {
  const auto owner = owners_.find(id);
  if (owner == owners_.end()) return;
  Holder& h = holders_.at(owner->second);
  if (h.state != LockState::kEnqueued || h.lock != id) return;
  if (!MayAnnounce(id)) return;
  h.state = LockState::kAcquired;
  if (h.conn != 0) {
    io_.Send(h.conn, {.kind = Frame::Kind::kAcquired,
                      .id = id,
                      .state = LockState::kAcquired,
                      .grant = true});
  }
}

bool FakeLocks::MayAnnounce(LockId id) {
  return gate_ == nullptr || gate_->Announce(io_.LocalNow(), id, waiter_);
}

void FakeLocks::Closed(ConnId conn) {
  const auto it = conns_.find(conn);
  if (it == conns_.end()) return;
  const std::uint64_t key = it->second;
  conns_.erase(it);
  Holder& h = holders_.at(key);
  if (h.conn != conn) return;
  h.conn = 0;
  if (h.session != 0) return Detach(key, milliseconds(h.timeout_ms));
  // Connection::OnClosed: enqueued is cancelled, acquired abandoned.
  if (h.state == LockState::kAcquired) {
    return Abandon(key, milliseconds(h.timeout_ms));
  }
  const LockId id = h.lock;
  holders_.erase(key);
  if (id != 0) {
    owners_.erase(id);
    End(id);
  }
  MaybeFree();
}

void FakeLocks::Detach(std::uint64_t key, milliseconds window) {
  Holder& h = holders_.at(key);
  h.ends = io_.LocalNow() + window;
  const std::uint64_t detachment = ++h.detachment;
  io_.LocalAfter(window, [this, key, detachment] { Expire(key, detachment); });
}

void FakeLocks::Expire(std::uint64_t key, std::uint64_t detachment) {
  const auto it = holders_.find(key);
  if (it == holders_.end() || it->second.detachment != detachment ||
      it->second.conn != 0) {
    return;
  }
  // The lock ends before the session does, as Connection::Expire.
  const LockId id = it->second.lock;
  holders_.erase(it);
  if (id != 0) {
    owners_.erase(id);
    End(id);
  }
  Append(ha::SessionEnded{.id = key});
  MaybeFree();
}

void FakeLocks::Abandon(std::uint64_t key, milliseconds timeout) {
  holders_.at(key).ends = io_.LocalNow() + timeout;
  io_.LocalAfter(timeout, [this, key] {
    const auto it = holders_.find(key);
    if (it == holders_.end()) return;
    const LockId id = it->second.lock;
    holders_.erase(it);
    owners_.erase(id);
    End(id);
    MaybeFree();
  });
}

void FakeLocks::MaybeFree() {
  if (space_ == nullptr || !holders_.empty() || LiveLocks() != 0) return;
  mark_ = std::max(mark_, space_->GetStats().last_id);
  space_.reset();
}

std::size_t FakeLocks::LiveLocks() const {
  if (space_ == nullptr) return 0;
  const Stats stats = space_->GetStats();
  return stats.locks_pending + stats.locks_acquired;
}

std::optional<ha::Time> FakeLocks::EndsAt(LockId id) const {
  const auto owner = owners_.find(id);
  if (owner == owners_.end()) return std::nullopt;
  const Holder& h = holders_.at(owner->second);
  if (h.conn != 0) return std::nullopt;
  return h.ends;
}

LockState FakeLocks::StateOf(LockId id) const {
  return space_ == nullptr || id == 0 ? LockState::kNone : space_->State(id);
}

Status FakeLocks::Adopt(const ha::Replica& replica, milliseconds extend) {
  auto refused = [](std::string why) {
    return Error{Error::Code::kRejected,
                 "cannot adopt the replica: " + std::move(why)};
  };
  if (!replica.divergence().empty()) {
    return refused("it has diverged: " + replica.divergence());
  }
  const std::vector<ha::Replica::Space> spaces = replica.Spaces();
  for (const ha::Replica::Space& space : spaces) {
    if (space.name != kNamespace) return refused("namespace " + space.name);
    space_ = std::make_unique<LockSpace>(
        space.locks.empty() ? space.last_id : space.locks.front().id - 1);
  }
  // The sessions first: each opening precedes its lock in the log.
  for (const auto& [id, session] : replica.sessions()) {
    Space();
    Append(ha::SessionOpened{.id = id,
                             .secret = session.secret,
                             .ns = session.ns,
                             .window_ms = session.window_ms});
    holders_[id] = Holder{.session = id,
                          .secret = session.secret,
                          .timeout_ms = session.window_ms};
  }
  auto skip_to = [this](LockId last) {
    if (space_->GetStats().last_id >= last) return;
    space_->SkipTo(last);
    Append(ha::IdsSkipped{.ns = kNamespace, .last_id = last});
  };
  for (const ha::Replica::Space& space : spaces) {
    for (const ha::Replica::Lock& lock : space.locks) {
      const bool session = lock.owner.session != 0;
      // A plain connection's enqueued lock: its connection dropped.
      if (!session && lock.state != LockState::kAcquired) continue;
      skip_to(lock.id - 1);
      const RequestResult r = space_->Request(lock.resources, waiter_);
      Append(ha::LockRequested{.ns = kNamespace,
                               .id = r.id,
                               .resources = lock.resources,
                               .owner = lock.owner,
                               .acquired = r.acquired});
      if (r.id != lock.id) {
        return refused("lock " + std::to_string(lock.id) + " got ID " +
                       std::to_string(r.id));
      }
      const std::uint64_t key = session
                                    ? lock.owner.session
                                    : (std::uint64_t{1} << 63) | ++next_plain_;
      Holder& h = holders_[key];
      h.lock = lock.id;
      h.state = r.acquired ? LockState::kAcquired : LockState::kEnqueued;
      owners_[lock.id] = key;
      if (!session) {
        h.timeout_ms = lock.owner.timeout_ms;
        Abandon(key, milliseconds(lock.owner.timeout_ms) + extend);
      }
    }
    skip_to(space.last_id);
  }
  for (const auto& [id, session] : replica.sessions()) {
    Detach(id, milliseconds(session.window_ms) + extend);
  }
  MaybeFree();
  return {};
}

}  // namespace locktopus::simulate
