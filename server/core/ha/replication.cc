#include "server/core/ha/replication.h"

#include <algorithm>
#include <iomanip>
#include <sstream>
#include <utility>

namespace locktopus::server::ha {
namespace {

Error Contradiction(std::string message) {
  return Error{Error::Code::kRejected, std::move(message)};
}

std::string Describe(const Change& change) {
  std::ostringstream os;
  os << change;
  return os.str();
}

// A session's token ID as its token writes it: 16 hex digits.
std::string SessionName(std::uint64_t id) {
  std::ostringstream os;
  os << std::hex << std::setw(16) << std::setfill('0') << id;
  return os.str();
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Change& change) {
  if (const auto* c = std::get_if<LockRequested>(&change)) {
    os << "request " << c->ns << " " << c->id << " " << ToString(c->resources);
    if (c->owner.session != 0) {
      os << " session " << SessionName(c->owner.session);
    } else {
      os << " connection";
    }
    os << " timeout " << c->owner.timeout_ms << " ms";
    if (c->acquired) os << (*c->acquired ? " acquired" : " enqueued");
  } else if (const auto* c = std::get_if<LockEnded>(&change)) {
    os << "end " << c->ns << " " << c->id;
  } else if (const auto* c = std::get_if<IdsSkipped>(&change)) {
    os << "skip " << c->ns << " to " << c->last_id;
  } else if (const auto* c = std::get_if<SessionOpened>(&change)) {
    os << "open session " << SessionName(c->id) << " of " << c->ns << " window "
       << c->window_ms << " ms";
  } else if (const auto* c = std::get_if<SessionEnded>(&change)) {
    os << "end session " << SessionName(c->id);
  }
  return os;
}

// ---- ReplicatedState -------------------------------------------------------

Status ReplicatedState::Apply(const Change& change) {
  if (const auto* c = std::get_if<LockRequested>(&change)) {
    if (c->id == 0) return Contradiction("lock ID 0: " + Describe(change));
    if (c->owner.session != 0) {
      auto it = sessions_.find(c->owner.session);
      if (it == sessions_.end() || it->second.ns != c->ns) {
        return Contradiction("no such session: " + Describe(change));
      }
    }
    auto [it, opened] = spaces_.try_emplace(c->ns);
    Space& space = it->second;
    if (!opened && c->id != space.last_id + 1) {
      return Contradiction("expected ID " + std::to_string(space.last_id + 1) +
                           ": " + Describe(change));
    }
    space.last_id = c->id;
    space.locks.emplace_hint(space.locks.end(), c->id,
                             Lock{c->resources, c->owner});
  } else if (const auto* c = std::get_if<LockEnded>(&change)) {
    auto it = spaces_.find(c->ns);
    if (it == spaces_.end() || it->second.locks.erase(c->id) == 0) {
      return Contradiction("no such lock: " + Describe(change));
    }
    if (it->second.locks.empty()) spaces_.erase(it);
  } else if (const auto* c = std::get_if<IdsSkipped>(&change)) {
    if (auto it = spaces_.find(c->ns); it != spaces_.end()) {
      it->second.last_id = std::max(it->second.last_id, c->last_id);
    }
  } else if (const auto* c = std::get_if<SessionOpened>(&change)) {
    if (c->id == 0 ||
        !sessions_.try_emplace(c->id, Session{c->secret, c->ns, c->window_ms})
             .second) {
      return Contradiction("session open already: " + Describe(change));
    }
  } else if (const auto* c = std::get_if<SessionEnded>(&change)) {
    if (sessions_.erase(c->id) == 0) {
      return Contradiction("no such session: " + Describe(change));
    }
  }
  return {};
}

std::vector<Change> ReplicatedState::Changes() const {
  std::vector<Change> changes;
  for (const auto& [id, session] : sessions_) {
    changes.push_back(SessionOpened{.id = id,
                                    .secret = session.secret,
                                    .ns = session.ns,
                                    .window_ms = session.window_ms});
  }
  std::vector<const std::pair<const std::string, Space>*> spaces;
  for (const auto& entry : spaces_) spaces.push_back(&entry);
  std::sort(spaces.begin(), spaces.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* entry : spaces) {
    const std::string& ns = entry->first;
    const Space& space = entry->second;
    LockId last = 0;
    for (const auto& [id, lock] : space.locks) {
      if (last != 0 && id != last + 1) {
        changes.push_back(IdsSkipped{.ns = ns, .last_id = id - 1});
      }
      changes.push_back(LockRequested{.ns = ns,
                                      .id = id,
                                      .resources = lock.resources,
                                      .owner = lock.owner});
      last = id;
    }
    if (space.last_id != last) {
      changes.push_back(IdsSkipped{.ns = ns, .last_id = space.last_id});
    }
  }
  return changes;
}

// ---- ChangeLog
// ---------------------------------------------------------------

Position ChangeLog::Append(Change change) noexcept {
  Position position = 0;
  {
    MutexLock lock(mu_);
    (void)state_.Apply(change);
    changes_.push_back(std::move(change));
    position = first_ + changes_.size() - 1;
    last_.store(position, std::memory_order_release);
  }
  if (on_append_) on_append_();
  return position;
}

std::optional<std::vector<Change>> ChangeLog::From(Position from,
                                                   std::size_t max) const {
  MutexLock lock(mu_);
  const Position end = first_ + changes_.size();  // one past the last
  if (from < first_ || from > end) return std::nullopt;
  const std::size_t begin = from - first_;
  const std::size_t count = std::min<std::size_t>(max, end - from);
  return std::vector<Change>(changes_.begin() + begin,
                             changes_.begin() + begin + count);
}

void ChangeLog::Trim(Position position) {
  MutexLock lock(mu_);
  while (!changes_.empty() && first_ <= position) {
    changes_.pop_front();
    ++first_;
  }
}

Snapshot ChangeLog::Snapshot() const {
  MutexLock lock(mu_);
  return {.position = first_ + changes_.size() - 1,
          .changes = state_.Changes()};
}

Position ChangeLog::last() const {
  return last_.load(std::memory_order_acquire);
}

Position ChangeLog::first() const {
  MutexLock lock(mu_);
  return first_;
}

// ---- Replica
// -----------------------------------------------------------------

Replica::Outcome Replica::Apply(Position position, const Change& change) {
  if (!divergence_.empty()) return Outcome::kDiverged;
  if (position <= applied_) return Outcome::kDuplicate;
  if (position != applied_ + 1) return Outcome::kGap;
  if (Status status = Step(change); !status.ok()) {
    divergence_ = "at position " + std::to_string(position) + ": " +
                  status.error().message;
    return Outcome::kDiverged;
  }
  applied_ = position;
  return Outcome::kApplied;
}

Status Replica::Load(const ha::Snapshot& snapshot) {
  Reset();
  for (const Change& change : snapshot.changes) {
    if (Status status = Step(change); !status.ok()) {
      divergence_ = "in the snapshot at position " +
                    std::to_string(snapshot.position) + ": " +
                    status.error().message;
      return Error{Error::Code::kRejected, divergence_};
    }
  }
  applied_ = snapshot.position;
  return {};
}

void Replica::Reset() {
  state_ = ReplicatedState();
  engines_.clear();
  applied_ = 0;
  divergence_.clear();
}

Status Replica::Step(const Change& change) {
  if (Status status = state_.Apply(change); !status.ok()) return status;
  if (const auto* c = std::get_if<LockRequested>(&change)) {
    std::unique_ptr<LockSpace>& engine = engines_[c->ns];
    if (engine == nullptr) engine = std::make_unique<LockSpace>(c->id - 1);
    const RequestResult result = engine->Request(c->resources);
    if (result.id != c->id ||
        (c->acquired && *c->acquired != result.acquired)) {
      return Contradiction("the engine answered ID " +
                           std::to_string(result.id) +
                           (result.acquired ? " acquired" : " enqueued") +
                           ": " + Describe(change));
    }
  } else if (const auto* c = std::get_if<LockEnded>(&change)) {
    auto it = engines_.find(c->ns);
    if (it == engines_.end() || !it->second->Release(c->id).found) {
      return Contradiction("the engine has no such lock: " + Describe(change));
    }
    const Stats stats = it->second->GetStats();
    if (stats.locks_pending + stats.locks_acquired == 0) engines_.erase(it);
  } else if (const auto* c = std::get_if<IdsSkipped>(&change)) {
    if (auto it = engines_.find(c->ns); it != engines_.end()) {
      it->second->SkipTo(c->last_id);
    }
  }
  return {};
}

std::vector<Replica::Space> Replica::Spaces() const {
  std::vector<Space> spaces;
  for (const auto& [name, space] : state_.spaces()) {
    // Both have the namespace unless the replica has diverged.
    auto it = engines_.find(name);
    const LockSpace* engine = it == engines_.end() ? nullptr : it->second.get();
    Space out{.name = name,
              .last_id = engine != nullptr ? engine->GetStats().last_id : 0};
    for (const auto& [id, lock] : space.locks) {
      out.locks.push_back(Lock{
          .id = id,
          .resources = lock.resources,
          .state = engine != nullptr ? engine->State(id) : LockState::kNone,
          .owner = lock.owner});
    }
    spaces.push_back(std::move(out));
  }
  std::sort(spaces.begin(), spaces.end(),
            [](const Space& a, const Space& b) { return a.name < b.name; });
  return spaces;
}

}  // namespace locktopus::server::ha
