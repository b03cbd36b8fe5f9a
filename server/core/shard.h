// Which group of servers a namespace belongs to. HAProxy routes by the same
// rule (packaging/haproxy/locktopus.cfg.in): the CRC-32 of the namespace's
// decoded bytes, modulo the number of groups, indexes the ordered group
// list (--ha-groups). Every server checks it, so that a client that reaches
// the wrong group — straight to a server, through a stale proxy
// configuration, after a routing error — is refused (HTTP 421) instead of
// getting a second holder of a lock that the right group may grant too.
//
// Thread safety: a plain value, const after start.

#ifndef LOCKTOPUS_SERVER_CORE_SHARD_H_
#define LOCKTOPUS_SERVER_CORE_SHARD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace locktopus::server {

class ShardMap {
 public:
  // The map of `groups` (comma-separated, in routing order; empty: `self`
  // alone) as seen by a server of group `self`, which must be one of them.
  // Returns the map or what is wrong with the arguments (kInvalidArgument).
  static Result<ShardMap> Make(std::string_view groups, std::string_view self);

  // The index of the group that `ns` belongs to.
  std::size_t Owner(std::string_view ns) const;
  bool Mine(std::string_view ns) const { return Owner(ns) == self_; }

  const std::vector<std::string>& groups() const { return groups_; }
  std::size_t self() const { return self_; }
  // The list as --ha-groups spells it, and as etcd records it.
  std::string Text() const;

 private:
  std::vector<std::string> groups_;
  std::size_t self_ = 0;
};

// Whether `name` may name a group: not empty, without '/' (etcd's keys),
// ',' (the list), white space or control characters. A group named "a,b"
// would otherwise have the map text of the two groups a and b.
bool IsGroupName(std::string_view name);
inline constexpr std::string_view kBadGroupName =
    "a group name must not be empty, nor contain '/', ',', white space or "
    "control characters";

// CRC-32 (ISO-HDLC: zlib's, and HAProxy's `crc32` converter).
std::uint32_t Crc32(std::string_view bytes);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_SHARD_H_
