#include "server/core/ha/replicator.h"

#include <algorithm>
#include <tuple>

namespace locktopus::server::ha {

Replicator::Replicator(Clock::duration ack_bound, Io& io)
    : ack_bound_(ack_bound), io_(io) {}

std::optional<Replicator::State> Replicator::StateOf(
    FollowerId follower) const {
  const auto it = followers_.find(follower);
  if (it == followers_.end()) return std::nullopt;
  return it->second.state;
}

void Replicator::Appended(Position position) {
  appended_ = std::max(appended_, position);
  if (committed_ == kEverything || appended_ <= committed_) return;
  if (pending_.empty() || pending_.back().first < appended_) {
    pending_.emplace_back(appended_, io_.Now());
  }
  if (!check_scheduled_) {
    check_scheduled_ = true;
    io_.After(ack_bound_, [this] { CheckAcks(); });
  }
}

void Replicator::Opened(FollowerId follower, const Member& member,
                        Position from) {
  followers_[follower] = Follower{
      .member = member, .acked = from, .target = std::max(from, io_.LogEnd())};
}

void Replicator::Acked(FollowerId id, Position position) {
  const auto it = followers_.find(id);
  if (it == followers_.end()) return;
  Follower& f = it->second;
  f.acked = std::max(f.acked, position);
  if (f.state == State::kCatchingUp && f.acked >= f.target) {
    // One stream per member in R: an older one must have left C first.
    const bool sibling = std::any_of(
        followers_.begin(), followers_.end(), [&](const auto& other) {
          return other.first != id && other.second.member == f.member;
        });
    if (sibling) return;
    if (committed_ == kEverything) {
      // Leaving solo. A change that saw kEverything was appended before
      // the first Committed below, hence is within LogEnd() read after it:
      // the joiner must hold all of them before it enters C.
      io_.Committed(appended_);
      committed_ = io_.LogEnd();
      io_.Committed(committed_);
    }
    f.state = State::kJoining;
    f.join_at = committed_;
  }
  Commit();
  Reconfigure();
}

void Replicator::Closed(FollowerId id) {
  const auto it = followers_.find(id);
  if (it == followers_.end()) return;
  Follower& f = it->second;
  f.closed = true;
  if (f.state == State::kCatchingUp) {
    followers_.erase(it);
    return;
  }
  f.state = State::kLeaving;
  Reconfigure();
}

void Replicator::Leave(FollowerId id, const std::string& why) {
  const auto it = followers_.find(id);
  if (it == followers_.end()) return;
  Follower& f = it->second;
  if (f.state != State::kCatchingUp) {
    f.state = State::kLeaving;
    Reconfigure();
  }
  if (!f.closed) io_.Drop(id, why);
}

void Replicator::Commit() {
  const bool any = std::any_of(followers_.begin(), followers_.end(),
                               [this](const auto& f) { return InR(f.second); });
  if (!any) {
    if (committed_ != kEverything) {
      committed_ = kEverything;
      pending_.clear();
      io_.Committed(kEverything);
    }
    return;
  }
  Position least = kEverything;
  for (const auto& [id, f] : followers_) {
    if (InR(f)) least = std::min(least, f.acked);
  }
  if (least <= committed_) return;
  committed_ = least;
  while (!pending_.empty() && pending_.front().first <= committed_) {
    pending_.pop_front();
  }
  io_.Committed(committed_);
}

void Replicator::Reconfigure() {
  if (writing_) return;
  // With no write in flight, a leaving standby that the record does not
  // name has left C: it leaves R.
  const bool pruned = std::erase_if(followers_, [this](const auto& f) {
    return f.second.state == State::kLeaving &&
           std::find(written_.begin(), written_.end(), f.second.member) ==
               written_.end();
  });
  if (pruned) Commit();
  std::vector<Member> want;
  for (const auto& entry : followers_) {
    const Follower& f = entry.second;
    const bool leaving = std::any_of(
        followers_.begin(), followers_.end(), [&](const auto& other) {
          return other.second.member == f.member &&
                 other.second.state == State::kLeaving;
        });
    if (leaving) continue;
    if (f.state == State::kInSync ||
        (f.state == State::kJoining && f.acked >= f.join_at)) {
      want.push_back(f.member);
    }
  }
  std::sort(want.begin(), want.end(), [](const Member& a, const Member& b) {
    return std::tie(a.name, a.revision) < std::tie(b.name, b.revision);
  });
  if (want == written_) return;
  writing_ = true;
  io_.SetInSync(want, [this](const std::vector<Member>& members) {
    // The active first, then its standbys.
    Written(std::vector<Member>(
        members.begin() + std::min<std::size_t>(1, members.size()),
        members.end()));
  });
}

void Replicator::Written(const std::vector<Member>& standbys) {
  writing_ = false;
  written_ = standbys;
  auto in_c = [this](const Member& m) {
    return std::find(written_.begin(), written_.end(), m) != written_.end();
  };
  for (auto& [id, f] : followers_) {
    if (f.state == State::kJoining && in_c(f.member)) f.state = State::kInSync;
  }
  Reconfigure();  // the leaving ones it no longer names leave R
  Commit();
}

void Replicator::CheckAcks() {
  check_scheduled_ = false;
  if (pending_.empty()) return;
  const Time now = io_.Now();
  std::vector<FollowerId> late;
  for (const auto& [id, follower] : followers_) {
    const Follower& f = follower;
    if (f.state != State::kJoining && f.state != State::kInSync) continue;
    if (f.acked >= appended_) continue;
    // The oldest position it has not acknowledged.
    const auto oldest =
        std::find_if(pending_.begin(), pending_.end(),
                     [&f](const auto& p) { return p.first > f.acked; });
    if (oldest != pending_.end() && now - oldest->second >= ack_bound_) {
      late.push_back(id);
    }
  }
  for (const FollowerId id : late) {
    Leave(id, "no acknowledgement within the ack bound");
  }
  if (!pending_.empty()) {
    check_scheduled_ = true;
    const Clock::duration wait =
        std::max(pending_.front().second + ack_bound_ - now, ack_bound_ / 8);
    io_.After(wait, [this] { CheckAcks(); });
  }
}

}  // namespace locktopus::server::ha
