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
//   in_sync      the configuration: the servers that hold every change of
//                lock state a client of the writer has been told of — the
//                writer and its in-sync standbys, each by its name and the
//                create revision of its candidacy (a server that restarts
//                campaigns anew, so its empty state is never taken for the
//                replica it had). Only a member may take over with its
//                replica and no grace; empty in a record written by a
//                server without replication, or by --ha-init.
//   version      the configuration's version within the epoch: it grows
//                with every change of in_sync; (epoch, version) never goes
//                back.
//
// Encoded as a small JSON object; a record that does not parse is an error,
// never a default. A record without in_sync (written before replication)
// reads as one with no member and version 0.
//
// Thread safety: plain values and pure functions.

#ifndef LOCKTOPUS_SERVER_CORE_HA_RECORD_H_
#define LOCKTOPUS_SERVER_CORE_HA_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/types.h"

namespace locktopus::server::ha {

// One member of a configuration.
struct Member {
  std::string name;           // as its candidacy says (host:port)
  std::int64_t revision = 0;  // its candidacy's create revision
  bool operator==(const Member&) const = default;
};

struct Record {
  LockId ceiling = 0;
  bool clean = false;
  std::int64_t epoch = 0;
  std::uint64_t window_ms = 0;
  std::uint64_t abandon_ms = 0;
  std::vector<Member> in_sync;
  std::uint64_t version = 0;
  // Whether the candidacy `revision` of `name` is in in_sync.
  bool InSync(std::string_view name, std::int64_t revision) const;
  bool operator==(const Record&) const = default;
};

std::string Encode(const Record& record);
std::optional<Record> Decode(std::string_view text);

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_RECORD_H_
