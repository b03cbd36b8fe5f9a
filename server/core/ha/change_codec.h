// A replication change (replication.h) as one JSON text frame, and back.
// Between servers only; no client ever sees one.
//
//   {"pos":17,"change":"request","ns":"n","id":5,
//    "resources":[{"type":"write","path":["a","b"]}],
//    "session":123,"timeout_ms":60000,"acquired":true}
//   {"pos":18,"change":"end","ns":"n","id":5}
//   {"change":"skip","ns":"n","last_id":9}
//   {"pos":19,"change":"session","id":123,"secret":"...","ns":"n",
//    "window_ms":60000}
//   {"pos":20,"change":"session_end","id":123}
//
// "pos" is the change's log position, absent for 0 (a snapshot's changes
// have none of their own). A request's "session" is absent for a plain
// connection's lock, its "acquired" absent when unset. Resources are
// written as in the lock message (docs/protocol.md), `read` or `write`
// only. Numbers are unsigned 64-bit integers. Strings are bytes: a
// namespace's name need not be UTF-8, and is written and read back as it
// is.
//
// Thread safety: pure functions.

#ifndef LOCKTOPUS_SERVER_CORE_HA_CHANGE_CODEC_H_
#define LOCKTOPUS_SERVER_CORE_HA_CHANGE_CODEC_H_

#include <optional>
#include <string>
#include <string_view>

#include "server/core/ha/replication.h"

namespace locktopus::server::ha {

struct ChangeFrame {
  Position position = 0;  // 0: none (a snapshot's change)
  Change change;
  bool operator==(const ChangeFrame&) const = default;
};

std::string FormatChange(const ChangeFrame& frame);

// The frame in `text`; nullopt for anything else: not JSON, not an object,
// an unknown change or field, a field missing or of the wrong type (a
// negative or fractional number among them), a lock ID of 0, a request
// with no resources or an unknown resource type. Never throws.
std::optional<ChangeFrame> ParseChange(std::string_view text);

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_CHANGE_CODEC_H_
