// The lock protocol's messages (docs/protocol.md) as values, and their one
// codec: every program that writes or reads a lock protocol frame — the
// server, the C++ client, locktopus-bench and the C++ end-to-end tests —
// calls these. No I/O.
//
//   client -> server
//   {"action":"lock","resources":[{"type":"write","path":["a","b"]}]}
//                      {"action":"release"}
//   server -> client   {"id":"17","action":"lock","state":"enqueued"}
//                      communication error: <reason>
//
// Thread safety: pure functions.

#ifndef LOCKTOPUS_WIRE_CODEC_H_
#define LOCKTOPUS_WIRE_CODEC_H_

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/types.h"

namespace locktopus::wire {

// ---- client -> server ------------------------------------------------------

// Limits on one client message; exceeding one is a protocol error whose
// reason names the limit by its flag.
struct MessageLimits {
  std::size_t max_message_bytes = 1 << 20;
  std::size_t max_resources = 1024;
  std::size_t max_path_depth = 64;
  std::size_t max_segment_bytes = 1024;
  // Path segments of all the resources of one lock together: each is a trie
  // node and an entry the engine may have to make, so this bounds what one
  // lock can make the server store (the three limits above allow 65,536).
  std::size_t max_lock_segments = 16384;
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
  kOverLimit,     // over max-resources, max-path-depth, max-segment-bytes
                  // or max-lock-segments
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

// A lock request for `resources`; ParseClientMessage reads it back.
std::string FormatLock(std::span<const Resource> resources);

// Appends `resources` to `out` as a lock request writes them: a JSON array
// of {"type":"read"|"write","path":[...]}. For other frames that carry a
// lock's resources (server/core/ha/change_codec.h).
void AppendResources(std::string& out, std::span<const Resource> resources);

// {"action":"release"}
std::string_view FormatRelease();

// ---- server -> client ------------------------------------------------------

// The connection's states, as named on the wire.
enum class ConnState { kReady, kEnqueued, kAcquired };
enum class Action { kLock, kRelease };

std::string_view Name(ConnState state);
std::string_view Name(Action action);

// {"id":"17","action":"lock","state":"enqueued"}: the answer to a request,
// or the later notice that an enqueued lock is acquired.
struct Answer {
  LockId id = 0;
  Action action = Action::kLock;
  ConnState state = ConnState::kReady;
  bool operator==(const Answer&) const = default;
};

std::string FormatAnswer(const Answer& answer);

// What precedes the reason of a protocol error's frame.
inline constexpr std::string_view kErrorPrefix = "communication error: ";

// "communication error: <reason>"
std::string FormatError(std::string_view reason);

// A protocol error's frame, as the client reads it.
struct ErrorFrame {
  std::string reason;  // after kErrorPrefix
  bool operator==(const ErrorFrame&) const = default;
};

using ServerMessage = std::variant<Answer, ErrorFrame>;

// Reads one frame from the server: an answer (an object with exactly the
// three fields, the ID a decimal string of a number >= 1), or an error frame.
// nullopt when it is neither. Never throws.
std::optional<ServerMessage> ParseServerMessage(std::string_view frame);

// A resumable session's frame (docs/protocol.md "Sessions"), the first a
// session's connection gets:
//   {"action":"session","state":"new","session":"TOKEN",
//    "abandon-timeout-ms":N}
//   {"action":"session","state":"resumed","session":"TOKEN",
//    "abandon-timeout-ms":N,"id":"17","lock":"acquired"}
// `lock` is acquired, enqueued or none (kReady; no `id` then). N is the
// session's window.
struct SessionFrame {
  enum State { kNew, kResumed };
  State state = kNew;
  std::string token;
  std::uint64_t window_ms = 0;
  LockId id = 0;                       // resumed, with a lock
  ConnState lock = ConnState::kReady;  // resumed
  bool operator==(const SessionFrame&) const = default;
};

std::string FormatSessionFrame(const SessionFrame& frame);

// Reads a session frame; nullopt when `frame` is none (a `new` frame's
// lock fields are left as they are). Never throws.
std::optional<SessionFrame> ParseSessionFrame(std::string_view frame);

// ---- text of reasons -------------------------------------------------------

// The text of `limit` named in reasons: "over max-message-bytes (1048576)".
std::string OverLimit(std::string_view flag, std::size_t limit);

}  // namespace locktopus::wire

#endif  // LOCKTOPUS_WIRE_CODEC_H_
