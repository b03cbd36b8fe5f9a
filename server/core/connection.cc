#include "server/core/connection.h"

#include "server/core/log.h"

namespace locktopus::server {

using wire::Action;
using wire::ConnState;
using wire::ProtocolErrorKind;

Connection::Connection(NamespaceHold ns, const ConnectionConfig& config,
                       ConnectionIo& io, LockHolderRef self)
    : ns_(std::move(ns)), config_(config), io_(io), self_(std::move(self)) {}

Connection::~Connection() {
  if (closed_) return;
  try {
    OnClosed();
    return;
  } catch (...) {
  }
  // Out of memory for the abandon timer, say: the lock is released at once
  // rather than after the abandon timeout, never left live.
  try {
    if (ns_ && state_ != ConnState::kReady) ns_->Release(lock_id_);
    LogError(
        "a connection ended without its transport and its lock could "
        "not be abandoned: released at once");
  } catch (...) {
  }
}

void Connection::OnFrame(std::string_view text) {
  if (closed_) return;
  wire::ClientMessage message = wire::ParseClientMessage(text, config_.limits);
  if (auto* error = std::get_if<wire::ProtocolError>(&message)) {
    Fail(error->kind, error->reason);
  } else if (auto* lock = std::get_if<wire::LockMessage>(&message)) {
    if (state_ != ConnState::kReady) {
      Fail(ProtocolErrorKind::kWrongState, "invalid action [lock] in state [" +
                                               std::string(wire::Name(state_)) +
                                               "]");
      return;
    }
    if (config_.draining != nullptr && config_.draining->load()) {
      Fail(ProtocolErrorKind::kShuttingDown,
           "server is shutting down: no new locks");
      return;
    }
    Lock(*lock);
  } else {
    if (state_ == ConnState::kReady) {
      Fail(ProtocolErrorKind::kWrongState,
           "invalid action [release] in state [ready]");
      return;
    }
    Release();
  }
}

void Connection::OnOversizedFrame(std::size_t size_at_least) {
  if (closed_) return;
  Fail(ProtocolErrorKind::kOversized,
       "message of at least " + std::to_string(size_at_least) + " bytes " +
           wire::OverLimit("max-message-bytes",
                           config_.limits.max_message_bytes));
}

void Connection::Lock(const wire::LockMessage& message) {
  requested_at_ = Clock::now();
  record_ = std::make_shared<LockRecord>(self_, config_.holder, requested_at_);
  const ha::Owner owner{.session = config_.session_id,
                        .timeout_ms = static_cast<std::uint64_t>(
                            config_.abandon_timeout.count())};
  const std::optional<RequestResult> answer =
      ns_->TryRequest(message.resources, record_, owner);
  if (!answer) {
    record_.reset();
    Overloaded("lock refused: the server's lock memory is full (" +
               wire::OverLimit("max-lock-memory", ns_->budget()->limit()) +
               "); try again later");
    return;
  }
  const RequestResult& result = *answer;
  if (config_.gate != nullptr) config_.gate->NoteIssued(result.id);
  if (config_.gate != nullptr && result.id > config_.gate->id_limit()) {
    // The durable ceiling could not be raised in time (etcd unreachable
    // for half a block of IDs): no ID above it may reach a client, not even
    // in an `enqueued` answer, since a successor may issue it again.
    ns_->Release(result.id);
    record_.reset();
    const std::string reason =
        "lock refused: lock IDs are at the durable ceiling (" +
        std::to_string(config_.gate->id_limit()) +
        "), which could not be raised yet; try again later";
    // Counted, not logged: clients retry, and the raise that ends this
    // logs its own failures.
    if (config_.metrics != nullptr) {
      Increment(config_.metrics->locks_refused_id_ceiling);
    }
    io_.Send(wire::FormatError(reason));
    io_.Close(kTryAgainLaterCloseCode, "try again later");
    HangUp();
    return;
  }
  lock_id_ = result.id;
  const bool acquired = result.acquired && MayAnnounce();
  state_ = acquired ? ConnState::kAcquired : ConnState::kEnqueued;
  Count(&LockCounters::requested);
  if (acquired) CountAcquired();
  if (config_.log_locks) {
    resources_ = ToString(message.resources);
    Log(acquired ? "requested and acquired" : "requested, enqueued");
  }
  std::string reply = wire::FormatAnswer({lock_id_, Action::kLock, state_});
  if (acquired) {
    io_.SendGrant(std::move(reply));
  } else {
    io_.Send(std::move(reply));
  }
}

void Connection::Release() {
  const bool cancel = state_ == ConnState::kEnqueued;
  ns_->Release(lock_id_);
  state_ = ConnState::kReady;  // before anything that may throw
  record_.reset();
  if (cancel) {
    Count(&LockCounters::cancelled);
  } else {
    CountReleased();
  }
  if (config_.log_locks) Log(cancel ? "cancelled" : "released");
  io_.Send(wire::FormatAnswer({lock_id_, Action::kRelease, state_}));
}

void Connection::OnAcquired(LockId id) {
  if (state_ != ConnState::kEnqueued || id != lock_id_) return;
  if (!MayAnnounce()) return;
  state_ = ConnState::kAcquired;
  CountAcquired();
  if (config_.log_locks) Log("acquired");
  if (!closed_) {
    io_.SendGrant(wire::FormatAnswer({lock_id_, Action::kLock, state_}));
  }
}

void Connection::OnForceReleased(LockId id) {
  // A session's connection still has its lock after its transport has
  // closed (a closing answer, or detached): the lock is gone all the same.
  if ((closed_ && !config_.session) || state_ == ConnState::kReady ||
      id != lock_id_) {
    return;
  }
  // Counted as the end its client would have seen, had it released.
  if (state_ == ConnState::kEnqueued) {
    Count(&LockCounters::cancelled);
  } else {
    CountReleased();
  }
  state_ = ConnState::kReady;  // nothing left to release or abandon
  record_.reset();
  if (config_.log_locks) Log("released by an operator");
  if (closed_) return;  // its session's resume finds `lock: none`
  io_.Send(wire::FormatError(kForceReleasedReason));
  io_.Close(kForceReleasedCloseCode, kForceReleasedReason);
  HangUp();
}

bool Connection::MayAnnounce() {
  return config_.gate == nullptr ||
         config_.gate->Announce(io_.Now(), lock_id_, self_);
}

void Connection::Fail(ProtocolErrorKind kind, std::string_view reason) {
  if (config_.metrics != nullptr) config_.metrics->CountProtocolError(kind);
  std::string frame = wire::FormatError(reason);
  // Always logged: the client is told, and its operator may never look.
  std::string who = "a client";
  if (const HolderInfo* holder = config_.holder.get()) {
    who = LogName(*holder) + " from " + holder->peer;
  }
  LogWarning(who + ": protocol error [" + std::string(wire::Name(kind)) +
             "], closing it with " + std::to_string(kProtocolErrorCloseCode) +
             ": " + LogSafe(frame));
  io_.Send(std::move(frame));
  io_.Close(kProtocolErrorCloseCode, reason);
  HangUp();
}

void Connection::Overloaded(std::string_view reason) {
  if (config_.metrics != nullptr) {
    Increment(config_.metrics->locks_refused_lock_memory);
  }
  if (config_.log_locks) Log(std::string("refused: ") + std::string(reason));
  io_.Send(wire::FormatError(reason));
  io_.Close(kTryAgainLaterCloseCode, "try again later");
  HangUp();
}

void Connection::HangUp() {
  if (config_.session) {
    closed_ = true;
  } else {
    OnClosed();
  }
}

void Connection::Detach(LockRecord::Clock::time_point until) {
  closed_ = true;
  if (record_ != nullptr) record_->SetDetached(until);
  if (config_.log_locks && state_ != ConnState::kReady) {
    Log("kept: its session is detached");
  }
}

ConnState Connection::Attach() {
  // An operator may have ended the lock while its notice is still on its
  // way (posted to a transport taken over since): the engine knows, and the
  // resume says `none` rather than a lock that is gone. Ended silently,
  // before anything is sent again; the notice then finds nothing to end.
  closed_ = true;
  if (state_ != ConnState::kReady && ns_->State(lock_id_) == LockState::kNone) {
    OnForceReleased(lock_id_);
  }
  closed_ = false;
  if (record_ != nullptr) {
    record_->SetDetached(std::nullopt);
    record_->SetHolder(config_.holder);
  }
  if (state_ == ConnState::kEnqueued &&
      ns_->State(lock_id_) == LockState::kAcquired && MayAnnounce()) {
    state_ = ConnState::kAcquired;
    CountAcquired();
    if (config_.log_locks) Log("acquired while its session was detached");
  }
  return state_;
}

void Connection::Expire() {
  if (!ns_) return;
  if (state_ == ConnState::kEnqueued) {
    Count(&LockCounters::cancelled);
    if (config_.log_locks) Log("cancelled: its session's window passed");
    ns_->Release(lock_id_);
  } else if (state_ == ConnState::kAcquired) {
    Count(&LockCounters::abandoned);
    if (config_.log_locks) Log("released: its session's window passed");
    ns_->Release(lock_id_);
  }
  closed_ = true;
  state_ = ConnState::kReady;
  record_.reset();
  ns_.reset();
}

bool Connection::Adopt(LockId id, std::span<const Resource> resources,
                       const ha::Owner& owner) {
  if (closed_ || state_ != ConnState::kReady) return false;
  requested_at_ = Clock::now();
  auto record =
      std::make_shared<LockRecord>(self_, config_.holder, requested_at_);
  const RequestResult result = ns_->Request(resources, record, owner);
  if (result.id != id) {
    ns_->Release(result.id);
    return false;
  }
  record_ = std::move(record);
  lock_id_ = id;
  state_ = result.acquired ? ConnState::kAcquired : ConnState::kEnqueued;
  Count(&LockCounters::requested);
  if (result.acquired) CountAcquired();
  if (config_.log_locks) {
    resources_ = ToString(resources);
    Log(result.acquired ? "taken over, acquired" : "taken over, enqueued");
  }
  return true;
}

void Connection::OnClosed() {
  if (closed_) return;
  closed_ = true;
  if (state_ == ConnState::kEnqueued) {
    ns_->Release(lock_id_);
    Count(&LockCounters::cancelled);
    if (config_.log_locks) Log("cancelled by disconnect");
  } else if (state_ == ConnState::kAcquired) {
    const auto timeout = config_.abandon_timeout;
    if (config_.log_locks) {
      Log("abandoned for " + std::to_string(timeout.count()) + " ms");
    }
    if (timeout.count() == 0) {
      Count(&LockCounters::abandoned);
      ns_->Release(lock_id_);
    } else {
      // The record holds the namespace until the lock is released, by this
      // timer or by an operator first (LockRecord::ForceReleased), and the
      // timer holds the record; it captures nothing of the connection,
      // which may be gone by then. Abandoned now (the gauge) before the
      // total: a scrape that sees the total sees this too.
      record_->Abandon(Clock::now() + timeout, ns_);
      Count(&LockCounters::abandoned);
      io_.After(
          timeout, [id = lock_id_, log = config_.log_locks, record = record_] {
            const NamespaceHold ns = record->EndAbandonment();
            if (!ns) return;  // released by an operator meanwhile
            ns->Release(id);
            if (log) {
              LogInfo("namespace [" + ns->name() + "] lock " +
                      std::to_string(id) + " released: abandon timeout passed");
            }
          });
    }
  }
  state_ = ConnState::kReady;
  record_.reset();
  ns_.reset();
}

void Connection::Count(Counter LockCounters::*counter) {
  Metrics* metrics = config_.metrics;
  if (metrics == nullptr) return;
  Increment(metrics->locks.*counter);
  if (metrics->per_namespace) Increment(ns_->counters().*counter);
}

void Connection::CountAcquired() {
  const Clock::time_point now = Clock::now();
  if (record_ != nullptr) record_->SetAcquired(now);
  if (config_.metrics == nullptr) return;
  acquired_at_ = now;
  Count(&LockCounters::acquired);
  config_.metrics->wait.Observe(acquired_at_ - requested_at_);
}

void Connection::CountReleased() {
  if (config_.metrics == nullptr) return;
  Count(&LockCounters::released);
  config_.metrics->hold.Observe(Clock::now() - acquired_at_);
}

void Connection::Log(std::string_view event) {
  LogInfo("namespace [" + ns_->name() + "] lock " + std::to_string(lock_id_) +
          " " + std::string(event) + ": " + resources_);
}

}  // namespace locktopus::server
