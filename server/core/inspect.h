// The lock inspector's server side: one namespace's live locks, each with
// who holds or waits for it and what it waits for (GET /locks_v1, the
// dashboard, locktopusctl locks/why). The engine answers the query
// (LockSpace::Inspect); this adds what only the server knows — the client
// behind each lock and its times — and writes the JSON of /locks_v1.
//
// Thread safety: InspectLocks may be called from any thread; it holds the
// service's mutex, then the namespace's, for the engine's bounded query
// only. The views are plain values.

#ifndef LOCKTOPUS_SERVER_CORE_INSPECT_H_
#define LOCKTOPUS_SERVER_CORE_INSPECT_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/types.h"

namespace locktopus::server {

class LockService;

// Who asked for a lock, as its connection knew it. The record outlives the
// connection while an abandoned lock waits for its timer.
struct HolderInfo {
  std::string client_name;      // the `client` parameter of /v1; "" if none
  std::uint64_t connection = 0;  // the number logs call "client N"
  std::string peer;              // address:port of the connection
};

// One lock as /locks_v1 shows it.
struct LockView {
  LockId id = 0;
  LockState state = LockState::kNone;
  std::vector<Resource> resources;
  // Absent for a lock whose record is gone (never, in the server).
  std::optional<HolderInfo> holder;
  // Held for (acquired) or waited for (enqueued), in milliseconds.
  std::int64_t since_ms = 0;
  // Its connection has gone: it is released when the abandon timeout ends,
  // in release_in_ms.
  bool abandoned = false;
  std::int64_t release_in_ms = 0;
  std::vector<LockId> waits_for;
  bool waits_for_more = false;
};

struct LocksView {
  std::string ns;
  std::uint64_t live = 0;  // live locks in the namespace, matching or not
  bool more = false;       // matching locks beyond those listed
  std::vector<LockView> locks;
};

// Limits of a /locks_v1 query.
inline constexpr std::size_t kDefaultLocksLimit = 100;
inline constexpr std::size_t kMaxLocksLimit = 1000;
inline constexpr std::size_t kDefaultBlockersLimit = 10;
inline constexpr std::size_t kMaxBlockersLimit = 100;

// The live locks of namespace `ns` that `query` asks for, or nullopt when
// the namespace is not open (never opened, or freed: no live lock). Never
// opens a namespace.
std::optional<LocksView> InspectLocks(const LockService& service,
                                      std::string_view ns,
                                      const InspectQuery& query);

// The body of GET /locks_v1 (README, "Inspecting locks").
std::string LocksJson(const LocksView& view);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_INSPECT_H_
