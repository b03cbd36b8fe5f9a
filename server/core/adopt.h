// Adoption: an HA server that takes over its group with a whole replica of
// its predecessor's lock state (ha/node.h's in-sync takeover) serves from
// it, as a single server would after every client's connection dropped at
// the moment of the takeover (docs/internals.md, Adoption). Socket-free.
//
//   session          detached, with its token, namespace and window; its
//                    window's timer restarted now, lengthened by `extend`
//   session's lock   its connection's again, same ID, in the engine's order
//   plain acquired   abandoned, released after its abandon timeout +
//                    `extend` from now (or by an operator first)
//   plain enqueued   cancelled: not rebuilt; its ID stays used
//
// Every namespace is rebuilt in ID order with the same IDs, and goes on
// above the replica's last ID; a lock behind a cancelled one may be
// acquired now, as the engine decides. Nothing is sent: a resume tells.
//
// The service's and the table's change log, if any, gets the adopted state
// through the paths that make it (sessions opened, locks requested, IDs
// skipped): the new epoch's start, which a standby of this server's gets
// in its snapshot.
//
// Metrics: an adopted session counts as detached (not created): it was
// opened on the predecessor and its connection ended with it. An adopted
// lock counts as requested, and acquired if the engine acquires it, so that
// its end balances (docs/operations.md); a plain enqueued one counts as
// nothing.

#ifndef LOCKTOPUS_SERVER_CORE_ADOPT_H_
#define LOCKTOPUS_SERVER_CORE_ADOPT_H_

#include <chrono>

#include "server/core/connection.h"
#include "server/core/ha/replication.h"
#include "server/core/lock_service.h"
#include "server/core/session.h"
#include "util/result.h"

namespace locktopus::server {

// Makes `locks` and `sessions` hold exactly `replica`'s state (see the file
// comment), each window and abandon timeout restarted now and lengthened by
// `extend`. `config` is what the server gives every connection (metrics,
// limits, gate, draining, logging; its holder and timeout are not used);
// `after` runs the windows' and abandonments' timers, from any thread.
//
// Call before any client is accepted and after the service's ID floor is
// set (LockService::SetIdFloor): a session without a lock opens its
// namespace, which starts above the floor if the replica has no lock in
// it. Changes nothing and returns an error if the replica has diverged,
// one of its namespaces is open in `locks`, one of its sessions is live in
// `sessions`, or one of its sessions has more than one lock. An error
// after that (an engine that gives another ID: a bug) leaves the state
// partly adopted: the server must not serve.
Status AdoptReplica(const ha::Replica& replica,
                    std::chrono::milliseconds extend, LockService& locks,
                    SessionTable& sessions, const ConnectionConfig& config,
                    const TimerFn& after);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_ADOPT_H_
