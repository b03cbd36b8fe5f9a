// etcd v3's values as this tree uses them: keys with their revisions and
// leases, and the requests and results of the calls the client makes
// (client.h). Plain values, no I/O and no Boost: socket-free code (the HA
// role logic, a fake etcd for simulation or tests) uses them without the
// client.
//
// Thread safety: plain values.

#ifndef LOCKTOPUS_ETCD_TYPES_H_
#define LOCKTOPUS_ETCD_TYPES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace locktopus::etcd {

// etcd's 64-bit lease ID; 0 means no lease.
using LeaseId = std::int64_t;
// A revision of the store: every change of the cluster's keys adds one.
using Revision = std::int64_t;

// An etcd ID (a lease's, a cluster's, a member's) as etcdctl writes it: 16
// lowercase hex digits.
std::string HexId(std::uint64_t id);

// The range end that, with `prefix` as the key, spans every key starting
// with `prefix` (etcd's GetPrefixRangeEnd). Every key when `prefix` is
// empty or all 0xff bytes.
std::string PrefixEnd(std::string_view prefix);

// Every answer's header.
struct ResponseHeader {
  Revision revision = 0;         // of the store when the member answered
  std::uint64_t cluster_id = 0;  // 0: not said
  std::uint64_t member_id = 0;
  std::uint64_t raft_term = 0;
};

struct KeyValue {
  std::string key;    // arbitrary bytes
  std::string value;  // arbitrary bytes
  Revision create_revision = 0;
  Revision mod_revision = 0;
  std::int64_t version = 0;  // 1 after creation, +1 per put
  LeaseId lease = 0;

  bool operator==(const KeyValue&) const = default;
};

struct LeaseGrantResult {
  ResponseHeader header;
  LeaseId id = 0;
  // As granted: etcd raises a short TTL to its minimum (1.5 election
  // timeouts, rounded up to whole seconds).
  std::int64_t ttl_seconds = 0;
};

struct LeaseKeepAliveResult {
  ResponseHeader header;
  std::int64_t ttl_seconds = 0;  // > 0: the lease lives this long again
};

struct LeaseRevokeResult {
  ResponseHeader header;
};

struct RangeRequest {
  enum class Sort { kByKey, kByCreateRevision };  // both ascending

  std::string key;
  // Empty: `key` alone. Otherwise [key, range_end): PrefixEnd(key) for
  // every key with that prefix, std::string(1, '\0') for every key >= key.
  std::string range_end;
  Sort sort = Sort::kByKey;
  std::int64_t limit = 0;  // 0: no limit
  // false: linearizable, a read through the raft leader, which fails
  // without one. true: the member answers from its own copy at once,
  // possibly stale, even without a leader.
  bool serializable = false;
};

struct RangeResult {
  ResponseHeader header;
  std::vector<KeyValue> kvs;
  std::int64_t count = 0;  // keys in the range, those beyond the limit too
  bool more = false;       // the limit left keys out
};

// One condition of a Txn, on one key. A key that does not exist has
// create_revision, mod_revision and version 0.
struct Compare {
  enum class Target { kCreateRevision, kModRevision, kVersion, kValue };
  enum class Op { kEqual, kNotEqual, kGreater, kLess };

  std::string key;
  Target target = Target::kCreateRevision;
  Op op = Op::kEqual;
  std::int64_t number = 0;  // the revision or version; unused for kValue
  std::string value;        // kValue only

  // CreateRevision(k, Op::kEqual, 0): k does not exist.
  static Compare CreateRevision(std::string key, Op op, Revision revision);
  static Compare ModRevision(std::string key, Op op, Revision revision);
  static Compare Version(std::string key, Op op, std::int64_t version);
  static Compare Value(std::string key, Op op, std::string value);
};

struct PutOp {
  std::string key;
  std::string value;
  LeaseId lease = 0;  // 0: the key outlives every lease
};

struct DeleteOp {
  std::string key;
  std::string range_end;  // as in RangeRequest
};

using TxnOp = std::variant<PutOp, DeleteOp, RangeRequest>;

// If every compare holds, the success ops run, else the failure ops; all in
// one revision. (RangeRequest::serializable does not apply inside a Txn.)
struct TxnRequest {
  std::vector<Compare> compare;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
};

struct TxnResult {
  ResponseHeader header;
  bool succeeded = false;  // the compares held: the success ops ran
  // One per RangeRequest of the branch that ran, in its order.
  std::vector<RangeResult> ranges;
};

}  // namespace locktopus::etcd

#endif  // LOCKTOPUS_ETCD_TYPES_H_
