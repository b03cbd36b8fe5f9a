// Replication between the servers of an HA group over WebSockets
// (docs/ha.md, Replication): on the active, the streams that
// /replicate_v1 takes from standbys, each fed from the change log and
// acknowledged into the Replicator (core/ha/replicator.h); on a standby, the
// one stream it keeps open to the active it follows, applied by its
// Follower (core/ha/stream.h). The messages are stream.h's.
//
// Batching: every append to the log asks for one flush on the role's
// strand; the appends made before it runs go out together, one message per
// stream, and each standby acknowledges each message once. The lock path
// never touches etcd.
//
// Thread safety: the role driver's strand runs everything here but the
// streams' own I/O, which posts back to it; Accept may be called from any
// strand.

#ifndef LOCKTOPUS_SERVER_NET_REPLICATION_H_
#define LOCKTOPUS_SERVER_NET_REPLICATION_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "server/core/ha/node.h"
#include "server/core/ha/replication.h"
#include "server/core/routes.h"
#include "server/core/server_state.h"
#include "server/net/streams.h"

namespace locktopus::server {

class Replication;

// Hands a stream that /replicate_v1 upgraded to the server's replication
// (ServerState::replication); closes it if there is none.
void StartReplicationStream(Stream stream, Request request,
                            ReplicateRoute route,
                            std::shared_ptr<ServerState> state);
void StartReplicationStream(TlsStream stream, Request request,
                            ReplicateRoute route,
                            std::shared_ptr<ServerState> state);

// Made by the role driver when the server replicates (Config::replicates);
// owned through ServerState::replication.
std::shared_ptr<Replication> MakeReplication(Strand strand,
                                             std::shared_ptr<ServerState> state,
                                             std::string self,
                                             std::string log_prefix);

class Replication : public ReplicationPort {
 public:
  // ---- standby, on the role's strand
  // Our candidacy's revision, which the active records in the in-sync set.
  virtual void SetRevision(std::int64_t revision) = 0;
  // Follow `leader` (host:port), the active of `epoch`: (re)connect.
  virtual void Follow(const std::string& leader, std::int64_t epoch) = 0;
  // Elected: apply and acknowledge nothing more, for good.
  virtual void Freeze() = 0;
  // Whether our replica is whole for `epoch` (stream.h's Follower::Whole).
  virtual bool Whole(std::int64_t epoch) = 0;
  // The replica, to adopt.
  virtual ha::Replica Take() = 0;

  // ---- active, on the role's strand
  // Serving (past any grace: an active in its grace adds nobody to the
  // in-sync set, or a member could take over without the grace that the
  // old epoch's holders still need): take streams, with `node` for the
  // record's in-sync set.
  virtual void Activate(ha::Node& node, std::int64_t epoch) = 0;
  // Fenced or resigned: close every stream.
  virtual void Stop() = 0;
};

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_NET_REPLICATION_H_
