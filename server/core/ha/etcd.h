// What the HA role logic (node.h) needs of etcd: leases, the first key of a
// prefix, one key, every key of a prefix, and a write guarded by the writer
// still holding its election key, over etcd/types.h's keys and leases. The
// server implements it over etcd's v3 gateway (etcd/client.h); the role
// simulation (simulate/ha/) over an in-memory etcd with delays and losses.
//
// Semantics are etcd's: every read is linearizable; a key put with a lease
// goes away when the lease expires; a key's create revision grows with
// every creation in the cluster, so the first key of a prefix by create
// revision is the one created earliest (the election recipe of etcd's
// concurrency package).
//
// Thread safety: an implementation calls each callback exactly once, on
// the executor of its caller (the role logic's), never from inside the call.

#ifndef LOCKTOPUS_SERVER_CORE_HA_ETCD_H_
#define LOCKTOPUS_SERVER_CORE_HA_ETCD_H_

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "etcd/types.h"
#include "util/result.h"

namespace locktopus::server::ha {

using etcd::KeyValue;
using etcd::LeaseId;
using etcd::Revision;

// Every call answers a Result: the value, or an Error when etcd could not be
// asked or did not answer in time (its message says which endpoints were
// tried and what each said).
template <class T>
using Reply = std::function<void(Result<T>)>;

// The writes of one guarded transaction.
struct Write {
  std::vector<std::pair<std::string, std::string>> puts;  // without a lease
  std::vector<std::string> deletes;
};

class Etcd {
 public:
  virtual ~Etcd() = default;

  // A new lease of `ttl` (whole seconds, at least one).
  virtual void Grant(std::chrono::seconds ttl, Reply<LeaseId> reply) = 0;
  // Renews `lease`; false if it no longer exists.
  virtual void KeepAlive(LeaseId lease, Reply<bool> reply) = 0;
  virtual void Revoke(LeaseId lease, Reply<bool> reply) = 0;

  // Creates `key` = `value` under `lease` unless it exists. Either way,
  // answers the key as it is now (its create revision says whether it was
  // this call that made it).
  virtual void Create(const std::string& key, const std::string& value,
                      LeaseId lease, Reply<KeyValue> reply) = 0;
  // The key of `prefix` with the smallest create revision, if any.
  virtual void First(const std::string& prefix,
                     Reply<std::optional<KeyValue>> reply) = 0;
  virtual void Get(const std::string& key,
                   Reply<std::optional<KeyValue>> reply) = 0;
  // Every key of `prefix`, in key order.
  virtual void List(const std::string& prefix,
                    Reply<std::vector<KeyValue>> reply) = 0;
  // Applies `write` if `guard`'s create revision is `revision` (that is,
  // while the writer still holds the election key it created); true if it
  // did.
  virtual void Guarded(const std::string& guard, Revision revision,
                       const Write& write, Reply<bool> reply) = 0;
};

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_ETCD_H_
