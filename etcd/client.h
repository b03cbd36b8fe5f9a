// A client for etcd v3 through its HTTP/JSON gateway, the one every etcd 3.4
// member serves on its client URL: leases (grant, keep-alive, revoke),
// ranges and guarded transactions, which is what the HA mode needs to hold
// an election in etcd. It speaks plain HTTP only (no TLS, no auth).
//
// Its requests and results are etcd/types.h's, which carry no I/O; its
// errors are util/result.h's Error, with the codes of contract 6.
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
//  6. A failed call's Error::code says which failure it was:
//       kInvalidArgument  not sent: the input is malformed (an endpoint
//                         list, say);
//       kUnavailable      no member answered usefully within the deadline:
//                         each refused, timed out, answered 5xx or 429, or
//                         answered something not etcd;
//       kNotFound         the lease does not exist (it expired or was
//                         revoked): from a keep-alive, a revoke, or a put
//                         with that lease;
//       kRejected         a member refused the request with an etcd error
//                         (HTTP 4xx); another member would refuse it too;
//       kCancelled        the Client was destroyed before the call
//                         completed.
//
// Thread safety: a Client and all its calls run on the executor given to
// its constructor (a strand, or an io_context run by one thread). Call its
// methods and destroy it on that executor only (or before the executor
// runs). Callbacks run on the executor, never inside the method that
// started the call. Destroying the Client completes each pending call with
// kCancelled; those callbacks still run, later, on the executor.

#ifndef LOCKTOPUS_ETCD_CLIENT_H_
#define LOCKTOPUS_ETCD_CLIENT_H_

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "etcd/types.h"
#include "util/result.h"

namespace locktopus::etcd {

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

class ClientImpl;  // client.cc

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
  // POST /v3/lease/keepalive, one renewal. kNotFound if the lease is
  // gone (etcd answers it with no TTL).
  void LeaseKeepAlive(LeaseId lease, Callback<LeaseKeepAliveResult> done,
                      Deadline deadline = std::nullopt);
  // POST /v3/lease/revoke: deletes the lease and its keys at once.
  // kNotFound if it was already gone.
  void LeaseRevoke(LeaseId lease, Callback<LeaseRevokeResult> done,
                   Deadline deadline = std::nullopt);
  // POST /v3/kv/range.
  void Range(const RangeRequest& request, Callback<RangeResult> done,
             Deadline deadline = std::nullopt);
  // POST /v3/kv/txn. kNotFound if a put that ran names a lease that is
  // gone (nothing of the txn is applied then).
  void Txn(const TxnRequest& request, Callback<TxnResult> done,
           Deadline deadline = std::nullopt);

  // The endpoint the next call tries first: the last one that answered.
  Endpoint current_endpoint() const;

 private:
  // Shared with the pending calls, which may outlive the Client.
  std::shared_ptr<ClientImpl> impl_;
};

}  // namespace locktopus::etcd

#endif  // LOCKTOPUS_ETCD_CLIENT_H_
