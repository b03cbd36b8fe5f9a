// A group's durable record: what each active leaves for its successor, in
// etcd (HA mode) or in a file (--state-dir). Written before the active
// issues an ID from a new block, at every raise of the ceiling, and once
// more when it hands over cleanly.
//
//   ceiling      no ID above it has been issued, or will be, by the writer:
//                the successor starts every namespace above it
//   clean        the writer stopped with no lock live (a clean switchover,
//                or a clean shutdown): the successor may skip the grace
//   epoch        the writer's election revision (0 for --state-dir)
//   window_ms    the writer's grant window after a confirmation (its lease
//                TTL minus its margin), and
//   abandon_ms   the longest abandon timeout it allowed: together how long
//                its clients may go on after it last could grant, which
//                the successor's grace covers
//
// Encoded as a small JSON object; a record that does not parse is an error,
// never a default.
//
// Thread safety: plain values and pure functions.

#ifndef LOCKTOPUS_SERVER_CORE_HA_RECORD_H_
#define LOCKTOPUS_SERVER_CORE_HA_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/types.h"

namespace locktopus::server::ha {

struct Record {
  LockId ceiling = 0;
  bool clean = false;
  std::int64_t epoch = 0;
  std::uint64_t window_ms = 0;
  std::uint64_t abandon_ms = 0;
  bool operator==(const Record&) const = default;
};

std::string Encode(const Record& record);
std::optional<Record> Decode(std::string_view text);

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_RECORD_H_
