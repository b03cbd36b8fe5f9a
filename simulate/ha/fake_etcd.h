// An in-memory etcd for the HA simulation (ha_simulation.h): one
// linearizable copy of the keys and leases, in simulated time. The
// simulation delays, loses and refuses requests around it.
//
// Thread safety: none; the simulation runs one event at a time.

#ifndef LOCKTOPUS_SIMULATE_HA_FAKE_ETCD_H_
#define LOCKTOPUS_SIMULATE_HA_FAKE_ETCD_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "server/core/ha/etcd.h"
#include "server/core/ha/record.h"
#include "util/result.h"

namespace locktopus::simulate {

using Us = std::int64_t;  // real (simulated) time, in microseconds
inline constexpr Us kMs = 1000;
inline constexpr Us kS = 1000 * kMs;

using server::ha::KeyValue;
using server::ha::LeaseId;
using server::ha::Record;
using server::ha::Revision;
using server::ha::Write;

// One linearizable copy of the keys and leases; a lease expires at its
// expiry, deleting its keys (checked before every operation).
class FakeEtcd {
 public:
  // Each operation at real time `now`, answered as the role logic reads it.
  template <class T>
  using Answer = Result<T>;

  Answer<LeaseId> Grant(Us now, std::chrono::seconds ttl) {
    Expire(now);
    const LeaseId id = next_lease_++;
    leases_[id] = {ttl.count() * kS, now + ttl.count() * kS};
    return id;
  }
  Answer<bool> KeepAlive(Us now, LeaseId id) {
    Expire(now);
    auto it = leases_.find(id);
    if (it == leases_.end()) return false;
    it->second.expiry = now + it->second.ttl;
    return true;
  }
  Answer<bool> Revoke(Us now, LeaseId id) {
    Expire(now);
    if (leases_.count(id) == 0) return false;
    Drop(id);
    return true;
  }
  Answer<KeyValue> Create(Us now, const std::string& key,
                          const std::string& value, LeaseId lease) {
    Expire(now);
    if (leases_.count(lease) == 0) {
      return Error{Error::Code::kNotFound,
                   "etcdserver: requested lease not found"};
    }
    auto it = kv_.find(key);
    if (it == kv_.end()) {
      it = kv_.emplace(key, Entry{value, ++revision_, lease}).first;
    }
    return Kv(it);
  }
  Answer<std::optional<KeyValue>> First(Us now, const std::string& prefix) {
    Expire(now);
    std::optional<KeyValue> first;
    for (auto it = kv_.lower_bound(prefix);
         it != kv_.end() && it->first.starts_with(prefix); ++it) {
      if (!first || it->second.create < first->create_revision) {
        first = Kv(it);
      }
    }
    return first;
  }
  Answer<std::optional<KeyValue>> Get(Us now, const std::string& key) {
    return Find(now, key);
  }
  Answer<std::vector<KeyValue>> List(Us now, const std::string& prefix) {
    Expire(now);
    std::vector<KeyValue> kvs;
    for (auto it = kv_.lower_bound(prefix);
         it != kv_.end() && it->first.starts_with(prefix); ++it) {
      kvs.push_back(Kv(it));
    }
    return kvs;
  }
  // What an operator (or a fault) does to etcd by hand.
  void Delete(const std::string& key) {
    ++revision_;
    kv_.erase(key);
  }
  void Put(const std::string& key, const std::string& value) {
    ++revision_;
    auto [at, fresh] = kv_.try_emplace(key, Entry{value, revision_, 0});
    if (!fresh) at->second.value = value;
  }
  Answer<bool> Guarded(Us now, const std::string& guard, Revision revision,
                       const Write& write) {
    Expire(now);
    auto it = kv_.find(guard);
    const Revision actual = it == kv_.end() ? 0 : it->second.create;
    if (actual != revision) return false;
    ++revision_;
    for (const auto& [key, value] : write.puts) {
      auto [at, fresh] = kv_.try_emplace(key, Entry{value, revision_, 0});
      if (!fresh) at->second.value = value;
    }
    for (const std::string& key : write.deletes) kv_.erase(key);
    return true;
  }
  // A new etcd leader renews every lease.
  void RenewAll(Us now) {
    Expire(now);
    for (auto& [id, lease] : leases_) lease.expiry = now + lease.ttl;
  }
  std::optional<Record> ReadRecord(Us now, const std::string& key) {
    const auto kv = Find(now, key);
    if (!kv) return std::nullopt;
    return server::ha::Decode(kv->value);
  }
  // The record at `key` as it is, without expiring leases (a record has
  // none): what the checks read after every event.
  std::optional<Record> PeekRecord(const std::string& key) const {
    const auto it = kv_.find(key);
    if (it == kv_.end()) return std::nullopt;
    return server::ha::Decode(it->second.value);
  }
  // Grows with every change of the keys.
  Revision revision() const { return revision_; }

 private:
  struct Entry {
    std::string value;
    Revision create = 0;
    LeaseId lease = 0;
  };
  struct Lease {
    Us ttl = 0;
    Us expiry = 0;
  };

  std::optional<KeyValue> Find(Us now, const std::string& key) {
    Expire(now);
    auto it = kv_.find(key);
    if (it == kv_.end()) return std::nullopt;
    return Kv(it);
  }
  static KeyValue Kv(std::map<std::string, Entry>::const_iterator it) {
    return {.key = it->first,
            .value = it->second.value,
            .create_revision = it->second.create,
            .lease = it->second.lease};
  }
  void Drop(LeaseId id) {
    leases_.erase(id);
    ++revision_;
    std::erase_if(kv_, [id](const auto& e) { return e.second.lease == id; });
  }
  void Expire(Us now) {
    std::vector<LeaseId> gone;
    for (const auto& [id, lease] : leases_) {
      if (lease.expiry <= now) gone.push_back(id);
    }
    for (LeaseId id : gone) Drop(id);
  }

  std::map<std::string, Entry> kv_;
  std::map<LeaseId, Lease> leases_;
  Revision revision_ = 1;
  LeaseId next_lease_ = 0x7e5700;
};

}  // namespace locktopus::simulate

#endif  // LOCKTOPUS_SIMULATE_HA_FAKE_ETCD_H_
