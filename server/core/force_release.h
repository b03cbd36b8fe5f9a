// Force release (docs/semantics.md): an operator ends a live lock by its ID
// (DELETE /locks_v1). The lock ends exactly as its holder's release would
// end it (an enqueued lock is cancelled), through the engine's one release
// path, so its waiters are acquired and told in the same step. Then its
// record is told (LockRecord::ForceReleased): a pending abandonment ends
// without a second release, and a connected holder is closed with 4000
// (Connection::OnForceReleased). The holder's fencing token is now below
// that of every later holder.
//
// Thread safety: may be called from any thread. It holds the namespace
// open for the call, takes its lock space's mutex for the engine's steps
// only, and tells the waiters and the holder after each step.

#ifndef LOCKTOPUS_SERVER_CORE_FORCE_RELEASE_H_
#define LOCKTOPUS_SERVER_CORE_FORCE_RELEASE_H_

#include <memory>
#include <optional>
#include <string_view>

#include "engine/types.h"
#include "server/core/inspect.h"
#include "server/core/lock_service.h"

namespace locktopus::server {

// What a force release ended.
struct ForcedRelease {
  // Its state just before: kEnqueued (it was cancelled) or kAcquired.
  LockState state = LockState::kNone;
  // Its connection had ended: it waited for its abandon timeout.
  bool abandoned = false;
  bool detached = false;  // its session was detached (session.h)
  // Who held or waited for it; null for a lock without a record.
  std::shared_ptr<const HolderInfo> holder;
};

// Ends lock `id` of namespace `ns`. nullopt, changing nothing, if it is not
// live: the namespace is not open, the ID is not live in it, or the lock
// ended meanwhile by another hand. Never opens a namespace.
std::optional<ForcedRelease> ForceRelease(LockService& service,
                                          std::string_view ns, LockId id);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_FORCE_RELEASE_H_
