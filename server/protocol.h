// The lock protocol's messages (PROTOCOL.md) as values: one WebSocket frame
// from a client becomes a validated ClientMessage, and the server's answers
// are formatted here. No I/O; the server and the fuzzers call these.
//
// Thread safety: pure functions.

#ifndef LOCKTOPUS_SERVER_PROTOCOL_H_
#define LOCKTOPUS_SERVER_PROTOCOL_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/types.h"

namespace locktopus::server {

// Limits on one client message; exceeding one is a protocol error whose
// reason names the limit by its flag.
struct MessageLimits {
  std::size_t max_message_bytes = 1 << 20;
  std::size_t max_resources = 1024;
  std::size_t max_path_depth = 64;
  std::size_t max_segment_bytes = 1024;
};

struct LockMessage {
  std::vector<Resource> resources;  // non-empty, within the limits
  bool operator==(const LockMessage&) const = default;
};

struct ReleaseMessage {
  bool operator==(const ReleaseMessage&) const = default;
};

// What kind of protocol error: a small fixed set, for metrics (the reason
// text is free and unbounded, so it never becomes a label).
enum class ProtocolErrorKind {
  kBadJson,       // not JSON, or not a JSON object
  kBadMessage,    // a JSON object that is not a valid message
  kOversized,     // over max-message-bytes
  kOverLimit,     // over max-resources, max-path-depth or max-segment-bytes
  kWrongState,    // an action not allowed in the connection's state
  kShuttingDown,  // a lock asked for while the server shuts down
};
inline constexpr std::size_t kProtocolErrorKinds = 6;

// bad_json, bad_message, oversized, over_limit, wrong_state, shutting_down.
std::string_view Name(ProtocolErrorKind kind);

struct ProtocolError {
  ProtocolErrorKind kind = ProtocolErrorKind::kBadMessage;
  std::string reason;  // says what was wrong, for "communication error: "
  bool operator==(const ProtocolError&) const = default;
};

using ClientMessage = std::variant<LockMessage, ReleaseMessage, ProtocolError>;

// Parses and validates one frame's text. Never throws.
ClientMessage ParseClientMessage(std::string_view frame,
                                 const MessageLimits& limits);

// The text of `limit` named in reasons: "over max-message-bytes (1048576)".
std::string OverLimit(std::string_view flag, std::size_t limit);

// The longest prefix of UTF-8 `text` of at most `max_bytes` that does not
// end inside a character, so that shortened reasons stay valid text frames.
std::string_view TruncateUtf8(std::string_view text, std::size_t max_bytes);

// The connection's states, as named on the wire.
enum class ConnState { kReady, kEnqueued, kAcquired };
enum class Action { kLock, kRelease };

std::string_view Name(ConnState state);
std::string_view Name(Action action);

// {"id":"17","action":"lock","state":"enqueued"}
std::string FormatAnswer(LockId id, Action action, ConnState state);

// "communication error: <reason>"
std::string FormatError(std::string_view reason);

// One message that formats a lock request back into the wire format, so
// that valid requests can be round-tripped by tests and fuzzers.
std::string FormatLock(const std::vector<Resource>& resources);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_PROTOCOL_H_
