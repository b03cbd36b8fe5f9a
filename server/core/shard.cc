#include "server/core/shard.h"

#include <algorithm>
#include <boost/crc.hpp>

#include "server/core/ha/cluster.h"

namespace locktopus::server {

std::uint32_t Crc32(std::string_view bytes) {
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

bool IsGroupName(std::string_view name) {
  if (name.empty()) return false;
  for (const char c : name) {
    // '/' would cut the etcd keys; ',' the list; the rest the log.
    if (c == '/' || c == ',' || static_cast<unsigned char>(c) <= 0x20 ||
        c == 0x7F) {
      return false;
    }
  }
  return true;
}

Result<ShardMap> ShardMap::Make(std::string_view groups,
                                std::string_view self) {
  auto bad = [](std::string message) {
    return Error{Error::Code::kInvalidArgument, std::move(message)};
  };
  if (!IsGroupName(self)) return bad(std::string(kBadGroupName));
  ShardMap map;
  if (groups.empty()) {
    map.groups_.emplace_back(self);
    return map;
  }
  for (std::size_t begin = 0;;) {
    const std::size_t end = groups.find(',', begin);
    const std::string_view name = groups.substr(begin, end - begin);
    if (!IsGroupName(name)) return bad(std::string(kBadGroupName));
    if (std::find(map.groups_.begin(), map.groups_.end(), name) !=
        map.groups_.end()) {
      return bad("the group [" + std::string(name) + "] is listed twice");
    }
    map.groups_.emplace_back(name);
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  const auto at = std::find(map.groups_.begin(), map.groups_.end(), self);
  if (at == map.groups_.end()) {
    return bad("this server's group [" + std::string(self) + "] is not listed");
  }
  map.self_ = static_cast<std::size_t>(at - map.groups_.begin());
  return map;
}

std::size_t ShardMap::Owner(std::string_view ns) const {
  if (groups_.size() == 1) return 0;
  return Crc32(ns) % groups_.size();
}

std::string ShardMap::Text() const { return ha::MapText(groups_); }

}  // namespace locktopus::server
