// One server's part in its group's active/standby set, elected in etcd
// (docs/ha.md). Free of sockets and of etcd's wire format: driven by etcd's
// answers (etcd.h) and timers (NodeIo), it keeps the GrantGate (gate.h) that
// the lock path reads before announcing any acquisition. The server runs it on
// a strand (server/net/ha.cc); the role simulation (simulate/ha/) runs several
// against an in-memory etcd.
//
// The recipe, on the keys of group G under P = "/locktopus/G/":
//   P "election/" LEASE   each server's candidacy, under its lease
//   P "record"            the group's durable record (record.h)
//
//   standby   grant a lease, keep it alive every third of it, create the
//             candidacy key, and ask every poll interval which candidacy is
//             first by create revision. Clients are refused.
//   elected   ours is first: read every key of the cluster (cluster.h).
//             Without the map of --ha-groups or without our group's record
//             we refuse to serve (fence: the cluster is not initialised, or
//             the record was lost). The floor is our ceiling, and at
//             least the wall-clock floor (cluster.h); the grace is 0 if
//             our record is clean (a clean takeover), else the larger grant
//             window plus the larger abandon timeout plus the margin (a
//             degraded takeover: we are not in the record's in-sync set,
//             so none of our predecessor's locks is ours to keep). Write the
//             record {ceiling: floor + block, clean: false, in_sync: us,
//             version 0} guarded by our candidacy; then every namespace
//             starts above the floor, and clients are taken.
//   grace     until the grace has passed since the election was *observed*:
//             acquisitions are held, not announced.
//   serving   grant while the window lasts. Confirm the leadership every
//             ttl/8 by reading our candidacy key; a success extends the
//             window to its read's *send* time + ttl - margin. Raise the
//             ceiling (guarded) when an ID reaches the middle of the block.
//   fenced    the key or the lease is gone, a guarded write failed, or the
//             window passed without a confirmation: the gate closes and
//             NodeIo::Fence closes every connection (the process then exits;
//             a supervisor restarts it as a standby).
//   resigned  shutdown: the gate closes; then, serving and with no lock
//             live, the record says clean
//             and the candidacy key goes, in one guarded write, so the
//             successor skips the grace; otherwise (a drain cut short, or
//             still in grace, when the predecessor's clients may be at work)
//             the key just goes with the lease.
//
// Why at most one server grants at a time (docs/ha.md has the argument in full,
// Why it is safe): a confirmation read that saw our key was processed while we
// were the leader, after it was sent at s; a successor can only be elected
// after that, and observes its election later still; it grants after grace G
// from then, and G >= our window (ttl - margin) + every abandon timeout +
// margin. We grant only before s + ttl - margin, on our clock, and our clients
// stop at most an abandon timeout after we close their connections, which we do
// at that time at the latest. Clocks need only a bounded *rate* drift.
//
// Thread safety: not thread-safe; every call, timer and etcd reply on one
// executor. The gate is read from any thread.

#ifndef LOCKTOPUS_SERVER_CORE_HA_NODE_H_
#define LOCKTOPUS_SERVER_CORE_HA_NODE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/core/ha/cluster.h"
#include "server/core/ha/etcd.h"
#include "server/core/ha/gate.h"
#include "server/core/ha/record.h"
#include "server/core/ha/role.h"

namespace locktopus::server::ha {

using std::chrono::milliseconds;

struct NodeSettings {
  std::string group;       // --ha-group
  std::string groups;      // --ha-groups: the shard map (cluster.h)
  std::string name;        // this server, as its candidacy says (host:port)
  milliseconds ttl{5000};  // --ha-ttl-ms
  milliseconds max_abandon{60'000};  // --max-abandon-timeout
  // IDs the ceiling is raised by: 1024 ms of the wall-clock floor
  // (cluster.h), so that a group's ceiling runs at most a few blocks ahead
  // of the wall clock while it issues fewer than 2048 IDs per millisecond.
  LockId id_block = LockId{1} << 21;

  // What keeps every decision on the safe side of the clocks' rate drift and
  // of delays between a check and its effect: a fifth of the TTL, at least
  // 200 ms.
  milliseconds margin() const;
  // How long after a confirmation's send time the server may grant.
  milliseconds window() const { return ttl - margin(); }
  // The etcd lease under the candidacy: half the TTL, in whole seconds. It
  // says how soon standbys see a dead active (its key goes when the lease
  // expires, and etcd revokes expired leases every 500 ms); safety rests on
  // the window alone, which counts from confirmations, never from it.
  std::chrono::seconds lease() const {
    return std::max(std::chrono::seconds(1),
                    std::chrono::ceil<std::chrono::seconds>(ttl / 2));
  }
  milliseconds keepalive_interval() const {
    return std::chrono::duration_cast<milliseconds>(lease()) / 3;
  }
  milliseconds confirm_interval() const { return ttl / 8; }
  milliseconds poll_interval() const { return milliseconds(50); }
  std::string prefix() const { return GroupPrefix(group); }
};

class Node final : public RoleLogic {
 public:
  Node(NodeSettings settings, Etcd& etcd, NodeIo& io, GrantGate& gate);
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Campaigns (standby) and carries on from there.
  void Start() override;
  // Raises the ceiling in etcd, guarded by our candidacy.
  void RaiseCeiling() override;
  // Leaves the group (role.h); a clean record and the candidacy key's
  // deletion go in one guarded write.
  void Resign(const std::function<bool()>& idle) override;

  // Called with the in-sync set the record says, once a SetInSync that asked
  // for it (or a later one) is written.
  using InSyncWritten = std::function<void(const std::vector<Member>&)>;
  // While active: the record's in-sync set becomes this server and
  // `standbys`, in a write guarded by our candidacy, after any write in
  // flight (one at a time, so a raise of the ceiling and a configuration
  // never overwrite each other). `written` follows that write; it is never
  // called if we are fenced first — a write refused because we are not
  // the leader any more fences us. An etcd that does not answer is asked
  // again every confirm interval.
  void SetInSync(std::vector<Member> standbys, InSyncWritten written);

  Role role() const { return role_; }
  LockId ceiling() const { return ceiling_; }
  std::int64_t epoch() const { return revision_; }

 private:
  bool Active() const {
    return role_ == Role::kGrace || role_ == Role::kServing;
  }
  std::string RecordKey() const { return ha::RecordKey(settings_.group); }
  std::string CandidacyPrefix() const {
    return settings_.prefix() + "election/";
  }
  Record Next(LockId ceiling, bool clean) const;

  void Campaign();
  void KeepAlive();
  void Poll();
  void Elected(Time sent, Time observed);
  struct TakeoverPlan {
    Takeover kind = Takeover::kDegraded;
    std::string why;
  };
  // How to take over from `last`, the record read once elected.
  TakeoverPlan Plan(const Record& last);
  void TakeOver(Record record, LockId floor, Clock::duration grace,
                Takeover kind, const std::string& why, Time sent,
                Time observed);
  void Confirm();
  void Watch();
  void EndGrace();
  void WriteRecord();
  void Fence(const std::string& why);
  void SetRole(Role role, const std::string& why);

  const NodeSettings settings_;
  Etcd& etcd_;
  NodeIo& io_;
  GrantGate& gate_;
  Role role_ = Role::kStandby;
  LeaseId lease_ = 0;
  std::string key_;        // our candidacy
  Revision revision_ = 0;  // its create revision: our epoch
  // Carried over from the record: the largest window and abandon timeout of
  // the group's history, which every grace must cover.
  std::uint64_t window_ms_ = 0;
  std::uint64_t abandon_ms_ = 0;
  LockId ceiling_ = 0;
  // The configuration the record says (record.h): while active, ourselves
  // first, then our in-sync standbys.
  std::vector<Member> in_sync_;
  std::uint64_t version_ = 0;
  std::uint64_t version_tried_ = 0;  // the last version a write carried
  // What is to be written next (WriteRecord), and who waits for it.
  bool raise_wanted_ = false;
  std::optional<std::vector<Member>> in_sync_wanted_;
  std::vector<InSyncWritten> in_sync_waiting_;
  bool writing_ = false;
  // The first takeover plan of this candidacy, kept across retries.
  std::optional<TakeoverPlan> plan_;
  // The election revision of the active we last saw (a standby's).
  Revision leader_ = 0;
  bool resigning_ = false;
  // Which lease the loops belong to: a new campaign starts new loops.
  std::uint64_t generation_ = 0;
};

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_NODE_H_
