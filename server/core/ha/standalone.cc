#include "server/core/ha/standalone.h"

#include <string>

namespace locktopus::server::ha {

StandaloneRole::StandaloneRole(std::unique_ptr<StateDir> dir, NodeIo& io,
                               GrantGate& gate)
    : dir_(std::move(dir)), io_(io), gate_(gate) {}

void StandaloneRole::Start() {
  const Time now = io_.Now();
  const GrantStart start{.floor = dir_->floor(),
                         .ceiling = dir_->ceiling(),
                         .block = dir_->block(),
                         .grace_until = now + dir_->grace(),
                         .grant_until = Time::max()};
  const Role role = StartGranting(start, now, gate_, io_);
  SetRole(role, "lock IDs above " + std::to_string(dir_->floor()) +
                    (role == Role::kGrace
                         ? "; the last run did not stop cleanly: granting "
                           "nothing for " +
                               std::to_string(dir_->grace().count()) + " ms"
                         : ""));
  if (role == Role::kGrace) io_.After(dir_->grace(), [this] { EndGrace(); });
}

void StandaloneRole::EndGrace() {
  if (role_ != Role::kGrace) return;
  SetRole(Role::kServing, "grace over");
  gate_.EndGrace(io_.Now());
}

void StandaloneRole::RaiseCeiling() {
  // The gate asks once per ceiling; a failed write asks again itself.
  if (role_ == Role::kResigned) return;
  if (Status raised = dir_->Raise(); !raised.ok()) {
    io_.Warn("cannot raise the lock-ID ceiling: " + raised.error().message +
             "; trying again in " + std::to_string(kRaiseRetry.count()) + " s");
    io_.After(kRaiseRetry, [this] { RaiseCeiling(); });
    return;
  }
  gate_.SetCeiling(dir_->ceiling(), dir_->block());
}

void StandaloneRole::Resign(const std::function<bool()>& idle) {
  if (role_ == Role::kResigned) return;
  // Clean only after the grace (during it, the last run's clients may
  // still be at work, which no look at this run's locks can see), and only
  // if no lock is live once the gate has closed.
  const bool in_grace = role_ == Role::kGrace;
  gate_.Close();
  std::string why;
  bool clean = false;
  if (in_grace) {
    why =
        "stopped during the grace: the stop is not clean, the next start "
        "waits a grace too";
  } else if (!idle || !idle()) {
    why =
        "a lock was granted during the last look: the stop is not clean, "
        "the next start waits a grace";
  } else if (Status marked = dir_->MarkClean(); !marked.ok()) {
    why = "cannot mark the stop clean: " + marked.error().message;
  } else {
    why = "stopped cleanly: the next start skips the grace";
    clean = true;
  }
  SetRole(Role::kResigned, why);
  io_.Resigned(clean);
}

void StandaloneRole::SetRole(Role role, const std::string& why) {
  role_ = role;
  io_.RoleChanged(role, why);
}

}  // namespace locktopus::server::ha
