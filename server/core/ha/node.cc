#include "server/core/ha/node.h"

#include <algorithm>

namespace locktopus::server::ha {
namespace {

std::string Millis(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<milliseconds>(d).count()) +
         " ms";
}

// "name@revision, ..." of `members`, for the log.
std::string Names(const std::vector<Member>& members) {
  std::string names;
  for (const Member& m : members) {
    if (!names.empty()) names += ", ";
    names += m.name + "@" + std::to_string(m.revision);
  }
  return names;
}

}  // namespace

milliseconds NodeSettings::margin() const {
  return std::max(ttl / 5, milliseconds(200));
}

Node::Node(NodeSettings settings, Etcd& etcd, NodeIo& io, GrantGate& gate)
    : settings_(std::move(settings)), etcd_(etcd), io_(io), gate_(gate) {}

void Node::Start() { Campaign(); }

Record Node::Next(LockId ceiling, bool clean) const {
  return {.ceiling = ceiling,
          .clean = clean,
          .epoch = revision_,
          .window_ms = window_ms_,
          .abandon_ms = abandon_ms_,
          .in_sync = in_sync_,
          .version = version_};
}

// ---- standby -----------------------------------------------------------

void Node::Campaign() {
  if (role_ != Role::kStandby || resigning_) return;
  const std::uint64_t generation = ++generation_;
  auto again = [this, generation] {
    io_.After(settings_.poll_interval(), [this, generation] {
      if (generation == generation_) Campaign();
    });
  };
  etcd_.Grant(settings_.lease(), [this, generation, again](Result<LeaseId> r) {
    if (generation != generation_ || role_ != Role::kStandby) return;
    if (!r.ok()) return again();
    lease_ = r.value();
    key_ = CandidacyPrefix() + etcd::HexId(static_cast<std::uint64_t>(lease_));
    etcd_.Create(key_, settings_.name, lease_,
                 [this, generation, again](Result<KeyValue> r) {
                   if (generation != generation_) return;
                   if (!r.ok()) return again();
                   revision_ = r.value().create_revision;
                   // A new candidacy is a new member to the active: the
                   // next look names the leader again, so that the stream
                   // follows under this revision, not a lapsed one.
                   leader_ = 0;
                   KeepAlive();
                   Poll();
                 });
  });
}

// One keep-alive every interval, whether or not the last one has answered:
// a lost one must not stretch the gap past the lease's TTL.
void Node::KeepAlive() {
  const std::uint64_t generation = generation_;
  io_.After(settings_.keepalive_interval(), [this, generation] {
    if (generation != generation_ || role_ == Role::kFenced ||
        role_ == Role::kResigned) {
      return;
    }
    etcd_.KeepAlive(lease_, [this, generation](Result<bool> r) {
      if (generation != generation_) return;
      if (r.ok() && !r.value()) {
        if (Active()) return Fence("our lease expired");
        if (role_ == Role::kStandby) return Campaign();
      }
    });
    KeepAlive();
  });
}

void Node::Poll() {
  if (role_ != Role::kStandby || resigning_) return;
  const std::uint64_t generation = generation_;
  const Time sent = io_.Now();
  etcd_.First(CandidacyPrefix(), [this, generation,
                                  sent](Result<std::optional<KeyValue>> r) {
    if (generation != generation_ || role_ != Role::kStandby) return;
    const std::optional<KeyValue>* first = r.ok() ? &r.value() : nullptr;
    if (first != nullptr && !first->has_value()) {
      return Campaign();  // not even our own candidacy: the lease went
    }
    if (first != nullptr && (*first)->key == key_ &&
        (*first)->create_revision == revision_) {
      // From here on this server never acknowledges an older epoch's
      // changes: what the old active may show its clients is what we hold.
      io_.Elected();
      return Elected(sent, io_.Now());
    }
    if (first != nullptr && (*first)->create_revision != leader_) {
      leader_ = (*first)->create_revision;
      io_.Leader((*first)->value, leader_);
    }
    io_.After(settings_.poll_interval(), [this, generation] {
      if (generation == generation_) Poll();
    });
  });
}

// ---- taking over ---------------------------------------------------------

// `sent`: when the read that saw our candidacy first was sent (we were the
// leader when it was processed, so from then on the window may count);
// `observed`: when its answer came (the election had happened by then, so
// the grace counts from there).
void Node::Elected(Time sent, Time observed) {
  const std::uint64_t generation = generation_;
  etcd_.List(std::string(kRoot), [this, generation, sent,
                                  observed](Result<std::vector<KeyValue>> r) {
    if (generation != generation_ || role_ != Role::kStandby) return;
    if (!r.ok()) {
      // Look again, with fresh times.
      return io_.After(settings_.poll_interval(), [this, generation] {
        if (generation == generation_) Poll();
      });
    }
    const ClusterView view = ReadCluster(r.value());
    if (!view.unreadable.empty()) {
      return Fence("the record at " + view.unreadable.front() +
                   " cannot be read");
    }
    if (view.map != settings_.groups) {
      return Fence(
          (view.map ? "the shard map in etcd [" + *view.map + "]"
                    : std::string("no shard map in etcd")) +
          " is not this server's --ha-groups [" + settings_.groups +
          "]: refusing to serve; initialise the cluster with locktopus "
          "--ha-init, every server stopped");
    }
    const auto own = view.records.find(settings_.group);
    if (own == view.records.end()) {
      return Fence("no record of group [" + settings_.group + "] at " +
                   RecordKey() +
                   ": refusing to serve, since a lost record would let IDs go "
                   "back and skip the grace; stop the group's servers and "
                   "run locktopus --ha-init");
    }
    const Record& last = own->second;
    window_ms_ =
        std::max<std::uint64_t>(settings_.window().count(), last.window_ms);
    abandon_ms_ =
        std::max<std::uint64_t>(settings_.max_abandon.count(), last.abandon_ms);
    // With a faithful replica of the record's epoch we hold every lock its
    // clients were told of: no grace. A write of ours whose answer was lost
    // comes back as our own record; the plan made before it stands.
    if (!plan_ || last.epoch != revision_) plan_ = Plan(last);
    const Clock::duration grace =
        plan_->kind == Takeover::kDegraded
            ? Clock::duration(milliseconds(window_ms_ + abandon_ms_) +
                              settings_.margin())
            : Clock::duration::zero();
    std::string why = plan_->why;
    if (plan_->kind == Takeover::kDegraded) why += ": grace " + Millis(grace);
    // Above our ceiling (--ha-init folded every group's into it when
    // the map changed, so a namespace that moved here keeps its IDs
    // going up), and above the wall-clock floor, so that a ceiling
    // rolled back (etcd restored from a snapshot) cannot make IDs go
    // back. Not above other groups' ceilings: takeovers across many
    // groups would then ratchet every ceiling ahead of the line.
    const LockId floor = std::max(last.ceiling, WallClockFloor(io_.WallNow()));
    in_sync_ = {{.name = settings_.name, .revision = revision_}};
    version_ = version_tried_ = 0;
    TakeOver(Next(floor + settings_.id_block, false), floor, grace, plan_->kind,
             why, sent, observed);
  });
}

Node::TakeoverPlan Node::Plan(const Record& last) {
  const bool member = last.InSync(settings_.name, revision_);
  if (member && io_.HasReplica(last.epoch)) {
    return {.kind = Takeover::kInSync,
            .why = "in-sync takeover, no grace: this server holds epoch " +
                   std::to_string(last.epoch) + "'s locks"};
  }
  if (last.clean) {
    return {.kind = Takeover::kClean,
            .why =
                "clean takeover, no grace: the last active handed over "
                "with no lock live"};
  }
  return {
      .kind = Takeover::kDegraded,
      .why = "degraded takeover: " +
             std::string(member ? "in the in-sync set of epoch "
                                : "not in the in-sync set of epoch ") +
             std::to_string(last.epoch) + " [" + Names(last.in_sync) + "]" +
             (member ? " but without a whole replica of it" : std::string()) +
             ", so its locks are gone"};
}

void Node::TakeOver(Record record, LockId floor, Clock::duration grace,
                    Takeover kind, const std::string& why, Time sent,
                    Time observed) {
  const std::uint64_t generation = generation_;
  Write write{.puts = {{RecordKey(), Encode(record)}}};
  etcd_.Guarded(
      key_, revision_, write,
      [this, generation, record, floor, grace, kind, why, sent,
       observed](Result<bool> r) {
        if (generation != generation_ || role_ != Role::kStandby) return;
        if (!r.ok()) {
          // Perhaps written: a new look reads our own record and takes over
          // above its ceiling, which is only higher.
          return io_.After(settings_.poll_interval(), [this, generation] {
            if (generation == generation_) Poll();
          });
        }
        if (!r.value()) {
          return Fence("lost the election before taking over");
        }
        ceiling_ = record.ceiling;
        if (kind == Takeover::kInSync) {
          // Every old window counts again from here, lengthened by the old
          // active's grant window: until then it may still have given its
          // clients proof of life. The floor first: a session without a
          // lock opens its namespace there, above it.
          io_.SetIdFloor(floor);
          const std::string refused =
              io_.AdoptReplica(milliseconds(window_ms_));
          if (!refused.empty()) {
            return Fence("the replica could not be adopted: " + refused);
          }
        }
        const Role role =
            StartGranting({.floor = floor,
                           .ceiling = ceiling_,
                           .block = settings_.id_block,
                           .grace_until = observed + grace,
                           .grant_until = sent + settings_.window()},
                          io_.Now(), gate_, io_);
        const bool wait = role == Role::kGrace;
        io_.TookOver(kind);
        SetRole(role, "elected (epoch " + std::to_string(revision_) +
                          "), IDs above " + std::to_string(floor) + "; " + why);
        Confirm();
        Watch();
        if (wait) {
          io_.After(observed + grace - io_.Now(), [this, generation] {
            if (generation == generation_) EndGrace();
          });
        }
      });
}

void Node::EndGrace() {
  if (role_ != Role::kGrace) return;
  SetRole(Role::kServing, "grace over");
  gate_.EndGrace(io_.Now());
}

// ---- active --------------------------------------------------------------

// One confirmation every confirm interval, whether or not the last one has
// answered: a lost one costs nothing but its own extension.
void Node::Confirm() {
  if (!Active()) return;
  const std::uint64_t generation = generation_;
  const Time sent = io_.Now();
  etcd_.Get(key_, [this, generation, sent](Result<std::optional<KeyValue>> r) {
    if (generation != generation_ || !Active()) return;
    if (r.ok()) {
      const std::optional<KeyValue>& kv = r.value();
      if (!kv.has_value() || kv->create_revision != revision_) {
        return Fence("our election key " + key_ + " is gone");
      }
      gate_.Extend(sent + settings_.window());
    }
  });
  io_.After(settings_.confirm_interval(), [this, generation] {
    if (generation == generation_) Confirm();
  });
}

void Node::Watch() {
  if (!Active()) return;
  const std::uint64_t generation = generation_;
  const Time now = io_.Now();
  const Time until = gate_.grant_until();
  if (now >= until) {
    return Fence("could not confirm the leadership within " +
                 Millis(settings_.window()) + " of the last confirmation");
  }
  io_.After(until - now, [this, generation] {
    if (generation == generation_) Watch();
  });
}

void Node::RaiseCeiling() {
  if (!Active() || raise_wanted_) return;
  raise_wanted_ = true;
  WriteRecord();
}

void Node::SetInSync(std::vector<Member> standbys, InSyncWritten written) {
  if (!Active()) return;
  std::vector<Member> members = {
      {.name = settings_.name, .revision = revision_}};
  members.insert(members.end(), standbys.begin(), standbys.end());
  in_sync_wanted_ = std::move(members);
  if (written) in_sync_waiting_.push_back(std::move(written));
  WriteRecord();
}

// One record write at a time, of everything wanted when it starts: a raise
// and a configuration never overwrite each other's value.
void Node::WriteRecord() {
  if (!Active() || writing_) return;
  const bool raise = raise_wanted_;
  const bool reconfigure = in_sync_wanted_.has_value();
  if (!raise && !reconfigure) return;
  Record record = Next(ceiling_ + (raise ? settings_.id_block : 0), false);
  if (reconfigure) {
    record.in_sync = *in_sync_wanted_;
    // Every attempt a new version: one whose answer was lost may have been
    // written, and a version never names two sets.
    record.version = ++version_tried_;
    in_sync_wanted_.reset();
  }
  std::vector<InSyncWritten> waiting = std::move(in_sync_waiting_);
  in_sync_waiting_.clear();
  writing_ = true;
  const std::uint64_t generation = generation_;
  Write write{.puts = {{RecordKey(), Encode(record)}}};
  etcd_.Guarded(key_, revision_, write,
                [this, generation, record, raise, reconfigure,
                 waiting = std::move(waiting)](Result<bool> r) mutable {
                  if (generation != generation_ || !Active()) return;
                  writing_ = false;
                  if (!r.ok()) {
                    // Not written, or written and unanswered: write it again,
                    // with whatever was wanted since.
                    if (reconfigure && !in_sync_wanted_) {
                      in_sync_wanted_ = record.in_sync;
                    }
                    for (InSyncWritten& w : in_sync_waiting_) {
                      waiting.push_back(std::move(w));
                    }
                    in_sync_waiting_ = std::move(waiting);
                    return io_.After(settings_.confirm_interval(),
                                     [this, generation] {
                                       if (generation == generation_) {
                                         WriteRecord();
                                       }
                                     });
                  }
                  if (!r.value()) {
                    return Fence(
                        "not the leader: the group's record could "
                        "not be written");
                  }
                  if (raise) {
                    ceiling_ = record.ceiling;
                    raise_wanted_ = false;
                    gate_.SetCeiling(ceiling_, settings_.id_block);
                  }
                  if (reconfigure) {
                    in_sync_ = record.in_sync;
                    version_ = record.version;
                  }
                  for (InSyncWritten& w : waiting) w(in_sync_);
                  WriteRecord();
                });
}

// ---- leaving -------------------------------------------------------------

void Node::Resign(const std::function<bool()>& idle) {
  if (resigning_ || role_ == Role::kFenced || role_ == Role::kResigned) {
    return;
  }
  resigning_ = true;
  const bool active = Active();
  // Nothing more is granted from here on; only then is "no lock live" a
  // fact that stays true. In grace, the predecessor's clients may still be
  // at work: only a server that got past its grace can say that no lock is
  // in use.
  gate_.Close();
  const bool clean = role_ == Role::kServing && idle && idle();
  SetRole(Role::kResigned, clean ? "resigning cleanly" : "resigning");
  const LeaseId lease = lease_;
  auto revoke = [this, lease](bool clean_written) {
    if (lease == 0) return io_.Resigned(clean_written);
    etcd_.Revoke(lease, [this, clean_written](Result<bool>) {
      io_.Resigned(clean_written);
    });
  };
  if (!active) return revoke(false);
  // The record says clean, and the key goes, at once: a successor either
  // sees both or neither.
  Write write{.deletes = {key_}};
  if (clean) write.puts = {{RecordKey(), Encode(Next(ceiling_, true))}};
  etcd_.Guarded(key_, revision_, write, [clean, revoke](Result<bool> r) {
    revoke(clean && r.ok() && r.value());
  });
}

void Node::Fence(const std::string& why) {
  if (role_ == Role::kFenced || role_ == Role::kResigned) return;
  gate_.Close();
  ++generation_;  // every loop stops
  SetRole(Role::kFenced, why);
  io_.Fence(why);
}

void Node::SetRole(Role role, const std::string& why) {
  role_ = role;
  io_.RoleChanged(role, why);
}

}  // namespace locktopus::server::ha
