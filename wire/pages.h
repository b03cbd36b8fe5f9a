// The JSON pages the server answers over HTTP beside the lock protocol, as
// values, and their one codec: the server writes each page with its Format,
// and locktopusctl and the tests read it with its Parse. No I/O.
//
//   GET /stats_v1?namespace=NS  {"LastGroupID":4,"GroupsPending":1,…}
//   GET /namespaces_v1          {"open":2,"opened":5,"namespaces":[…],
//                                "more":false}
//   GET /locks_v1?namespace=NS  {"namespace":"ns","live":3,"more":false,
//                                "locks":[…]}
//
// Format writes a page as the server always has, byte for byte: its keys in
// a fixed order, those of /stats_v1 in PascalCase (the names the original
// server gave them, which clients read). Parse reads it back, and
// Parse(Format(v)) == v for every value v. Parse ignores fields it does not
// know, as a later server may add some; text that is not JSON, a known
// field of the wrong type or a required one missing is an Error
// (kInvalidArgument) saying what is wrong. Strings are taken byte for byte: a
// namespace's name need not be UTF-8. Parse takes any bytes.
//
// Thread safety: pure functions.

#ifndef LOCKTOPUS_WIRE_PAGES_H_
#define LOCKTOPUS_WIRE_PAGES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/types.h"
#include "util/result.h"

namespace locktopus::wire {

// ---- GET /stats_v1 ---------------------------------------------------------

// LastGroupID, GroupsPending, GroupsAcquired, LocksPending, LocksAcquired,
// PathCount (engine/types.h's Stats), then MemoryBytes.
struct StatsPage {
  Stats stats;
  // Heap bytes of the namespace's lock state, as charged to
  // --max-lock-memory.
  std::uint64_t memory_bytes = 0;
  bool operator==(const StatsPage&) const = default;
};

std::string FormatStatsPage(const StatsPage& page);

// Every field is required.
Result<StatsPage> ParseStatsPage(std::string_view text);

// ---- GET /namespaces_v1 ----------------------------------------------------

struct ListedNamespace {
  std::string name;
  std::uint64_t locks_acquired = 0;
  std::uint64_t locks_pending = 0;
  bool operator==(const ListedNamespace&) const = default;
};

struct NamespacesPage {
  std::uint64_t open = 0;    // namespaces open now, matching or not
  std::uint64_t opened = 0;  // namespaces opened since the server started
  std::vector<ListedNamespace> namespaces;  // the busiest first
  bool more = false;  // more namespaces matched than are listed
  bool operator==(const NamespacesPage&) const = default;
};

std::string FormatNamespacesPage(const NamespacesPage& page);

// Every field is required.
Result<NamespacesPage> ParseNamespacesPage(std::string_view text);

// ---- GET /locks_v1 ---------------------------------------------------------

// One live lock.
struct ListedLock {
  LockId id = 0;  // written as a decimal string, as on /v1
  // kAcquired or kEnqueued: a listing holds live locks only (Format writes
  // any other state as "enqueued").
  LockState state = LockState::kAcquired;
  std::vector<Resource> resources;         // {"type":"write","path":["a","b"]}
  std::optional<std::string> client_name;  // absent: the client sent none
  // The server's number of its connection ("client N" in its logs); absent
  // once the connection has ended.
  std::optional<std::uint64_t> connection;
  std::optional<std::string> peer;  // "address:port" of the connection
  std::uint64_t since_ms = 0;       // held (acquired) or waiting (enqueued)
  // Present once its connection has ended ("abandoned":true), or while its
  // session is detached ("detached":true): the lock is released (or, if
  // enqueued, cancelled) when the abandon timeout or the session's window
  // ends, this many ms from now, unless the session is resumed first.
  std::optional<std::uint64_t> release_in_ms;
  bool detached = false;  // with release_in_ms: its session is detached
  // Enqueued only: the earlier live locks that conflict with it, and
  // whether the server had more than it listed.
  std::vector<LockId> waits_for;
  bool waits_for_more = false;

  bool abandoned() const { return release_in_ms.has_value() && !detached; }
  bool operator==(const ListedLock&) const = default;
};

struct LocksPage {
  std::string ns;                 // "namespace"
  std::uint64_t live = 0;         // live locks in the namespace, listed or not
  bool more = false;              // more locks matched than are listed
  std::vector<ListedLock> locks;  // in ascending ID order
  bool operator==(const LocksPage&) const = default;
};

std::string FormatLocksPage(const LocksPage& page);

// Only "locks", and each lock's "id", "state" and "resources" (each with
// "type" and "path"), are required; a field absent takes the default above.
// An ID may also be a number. "abandoned":true comes with "release_in_ms".
Result<LocksPage> ParseLocksPage(std::string_view text);

}  // namespace locktopus::wire

#endif  // LOCKTOPUS_WIRE_PAGES_H_
