// A client for etcd v3 through its HTTP/JSON gateway, the one every etcd 3.4
// member serves on its client URL: leases (grant, keep-alive, revoke),
// ranges and guarded transactions, which is what the HA mode needs to hold
// an election in etcd. It speaks plain HTTP only (no TLS, no auth).
//
// The types below carry no I/O; socket-free code (the role logic, a fake
// etcd for simulation) can use them without the Client.
//
// Contract of every Client call:
//  1. It completes exactly once: its callback receives a result or an
//     Error. A guarded Txn whose compares fail is a result
//     (succeeded == false), not an Error.
//  2. It completes by its deadline (the Client's, or the one passed to the
//     call), give or take the executor's latency. The deadline runs from
//     the moment of the call.
//  3. Failover: the call goes to the endpoint that last answered. If that
//     member refuses the connection, does not answer in time, answers 5xx
//     or 429 (no leader, request timed out, too many requests) or answers
//     something that is not etcd, the call tries the next endpoint in list
//     order, until each has been tried once. Each attempt gets an equal
//     share of the time left (time left / endpoints not yet tried), so every
//     endpoint is tried within the deadline even if the first never
//     answers. An answer that another member would repeat (HTTP 4xx with an
//     etcd error: a missing lease, a malformed request) ends the call.
//  4. An attempt abandoned after its request was sent may still be applied
//     by that member: a retried LeaseGrant can leak a lease (it expires
//     after its TTL); a retried Txn can find its own earlier effect. Guard
//     writes so that a replay fails harmlessly and can be recognised (a put
//     guarded on create_revision == 0, with a range of the key in the
//     failure branch to see whose value is there).
//  5. A failed call's Error::message starts with "etcd " and names each
//     endpoint tried and what it said, e.g.
//     "etcd 127.0.0.1:2379: connection refused; 127.0.0.1:2479: timeout
//     after 500 ms waiting for the answer".
//
// Thread safety: a Client and all its calls run on the executor given to
// its constructor (a strand, or an io_context run by one thread). Call its
// methods and destroy it on that executor only (or before the executor
// runs). Callbacks run on the executor, never inside the method that
// started the call. Destroying the Client completes each pending call with
// kCancelled; those callbacks still run, later, on the executor.

#ifndef LOCKTOPUS_SERVER_NET_ETCD_CLIENT_H_
#define LOCKTOPUS_SERVER_NET_ETCD_CLIENT_H_

#include <boost/asio/any_io_executor.hpp>
#include <cassert>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace locktopus::server::etcd {

// etcd's 64-bit lease ID; 0 means no lease.
using LeaseId = std::int64_t;

struct Error {
  enum class Code {
    // Not sent: the input is malformed (an endpoint list, say).
    kInvalidArgument,
    // No member answered usefully within the deadline: each refused,
    // timed out, answered 5xx or 429, or answered something not etcd.
    kUnavailable,
    // The lease does not exist (it expired or was revoked): from a
    // keep-alive, a revoke, or a put with that lease.
    kLeaseNotFound,
    // A member refused the request with an etcd error (HTTP 4xx); another
    // member would refuse it too.
    kRejected,
    // The Client was destroyed before the call completed.
    kCancelled,
  };
  Code code = Code::kUnavailable;
  std::string message;
};

std::string_view ToString(Error::Code code);

// A value or an Error: errors are values, as in the rest of the tree.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}      // NOLINT: implicit
  Result(Error error) : error_(std::move(error)) {}  // NOLINT: implicit

  bool ok() const { return value_.has_value(); }
  // Requires ok().
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T& value() & {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  // Requires !ok().
  const Error& error() const {
    assert(!ok());
    return error_;
  }

 private:
  std::optional<T> value_;
  Error error_;
};

// One member's client URL.
struct Endpoint {
  std::string host;  // an IP address (IPv6 without brackets) or a host name
  std::uint16_t port = 0;

  // "host:port", "[v6]:port": how errors name the member.
  std::string ToString() const;
  bool operator==(const Endpoint&) const = default;
};

// Parses a comma-separated list of client URLs, as etcd's own --endpoints
// takes them: "http://h1:p1,http://h2:p2". Only http: the client speaks
// plain HTTP, so https is refused rather than silently downgraded. A URL
// without a port means etcd's 2379. Returns at least one endpoint, or
// kInvalidArgument naming the bad entry (no URL, another scheme, a path,
// user info, a bad port, an entry listed twice).
Result<std::vector<Endpoint>> ParseEndpoints(std::string_view urls);

// The range end that, with `prefix` as the key, spans every key starting
// with `prefix` (etcd's GetPrefixRangeEnd). Every key when `prefix` is
// empty or all 0xff bytes.
std::string PrefixEnd(std::string_view prefix);

// Every answer's header.
struct ResponseHeader {
  std::int64_t revision = 0;  // of the store when the member answered
  std::uint64_t member_id = 0;
  std::uint64_t raft_term = 0;
};

struct KeyValue {
  std::string key;    // arbitrary bytes
  std::string value;  // arbitrary bytes
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
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
  static Compare CreateRevision(std::string key, Op op, std::int64_t revision);
  static Compare ModRevision(std::string key, Op op, std::int64_t revision);
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

class ClientImpl;  // etcd_client.cc

class Client {
 public:
  template <class T>
  using Callback = std::function<void(Result<T>)>;
  // A call's own deadline; nullopt: the Client's.
  using Deadline = std::optional<std::chrono::milliseconds>;

  // `endpoints` must not be empty (calls would complete with
  // kInvalidArgument). `deadline` is every call's unless it passes its own.
  Client(boost::asio::any_io_executor executor, std::vector<Endpoint> endpoints,
         std::chrono::milliseconds deadline = std::chrono::seconds(1));
  // Completes every pending call with kCancelled.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // POST /v3/lease/grant. A TTL below etcd's minimum is raised to it.
  void LeaseGrant(std::int64_t ttl_seconds, Callback<LeaseGrantResult> done,
                  Deadline deadline = std::nullopt);
  // POST /v3/lease/keepalive, one renewal. kLeaseNotFound if the lease is
  // gone (etcd answers it with no TTL).
  void LeaseKeepAlive(LeaseId lease, Callback<LeaseKeepAliveResult> done,
                      Deadline deadline = std::nullopt);
  // POST /v3/lease/revoke: deletes the lease and its keys at once.
  // kLeaseNotFound if it was already gone.
  void LeaseRevoke(LeaseId lease, Callback<LeaseRevokeResult> done,
                   Deadline deadline = std::nullopt);
  // POST /v3/kv/range.
  void Range(const RangeRequest& request, Callback<RangeResult> done,
             Deadline deadline = std::nullopt);
  // POST /v3/kv/txn. kLeaseNotFound if a put that ran names a lease that is
  // gone (nothing of the txn is applied then).
  void Txn(const TxnRequest& request, Callback<TxnResult> done,
           Deadline deadline = std::nullopt);

  // The endpoint the next call tries first: the last one that answered.
  Endpoint current_endpoint() const;

 private:
  // Shared with the pending calls, which may outlive the Client.
  std::shared_ptr<ClientImpl> impl_;
};

}  // namespace locktopus::server::etcd

#endif  // LOCKTOPUS_SERVER_NET_ETCD_CLIENT_H_
