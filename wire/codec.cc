#include "wire/codec.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <optional>

#include "wire/utf8.h"

namespace locktopus::wire {
namespace json = boost::json;
namespace {

// Parse options for every frame: nesting deeper than a lock message needs
// is refused by the parser itself, so hostile input cannot recurse deeply.
json::parse_options FrameOptions() {
  json::parse_options options;
  options.max_depth = 8;
  return options;
}

std::optional<Access> ParseType(std::string_view type) {
  std::string lower(type);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (lower == "read" || lower == "r") return Access::kRead;
  if (lower == "write" || lower == "w") return Access::kWrite;
  return std::nullopt;
}

std::string Quote(std::string_view text, std::size_t max = 64) {
  std::string out = "[";
  out.append(TruncateUtf8(text, max));
  if (text.size() > max) out += "...";
  return out + "]";
}

// Parses resource number `index` (from 0), whose resources before it have
// `segments` path segments (counted on); returns an error, if any.
std::optional<ProtocolError> ParseResource(const json::value& value,
                                           std::size_t index,
                                           const MessageLimits& limits,
                                           std::size_t& segments,
                                           Resource& out) {
  // Built only on the error paths: this runs for every resource of every lock.
  const auto where = [index] {
    return "resource " + std::to_string(index) + " ";
  };
  auto bad = [&where](const std::string& what) {
    return ProtocolError{ProtocolErrorKind::kBadMessage, where() + what};
  };
  auto over = [&where](const std::string& what) {
    return ProtocolError{ProtocolErrorKind::kOverLimit, where() + what};
  };
  const json::object* object = value.if_object();
  if (object == nullptr) return bad("is not an object");

  const json::value* type = object->if_contains("type");
  if (type == nullptr || !type->is_string()) return bad("has no type");
  std::optional<Access> access = ParseType(type->get_string());
  if (!access) return bad("has unknown type " + Quote(type->get_string()));
  out.access = *access;

  const json::value* path = object->if_contains("path");
  if (path == nullptr || !path->is_array()) {
    return bad("path is not an array of strings");
  }
  const json::array& list = path->get_array();
  if (list.size() > limits.max_path_depth) {
    return over("path depth " + std::to_string(list.size()) + " " +
                OverLimit("max-path-depth", limits.max_path_depth));
  }
  segments += list.size();
  if (segments > limits.max_lock_segments) {
    return ProtocolError{
        ProtocolErrorKind::kOverLimit,
        "lock of at least " + std::to_string(segments) + " path segments " +
            OverLimit("max-lock-segments", limits.max_lock_segments)};
  }
  out.path.reserve(list.size());
  for (const json::value& segment : list) {
    if (!segment.is_string()) return bad("path is not an array of strings");
    const json::string& s = segment.get_string();
    if (s.size() > limits.max_segment_bytes) {
      return over("path segment of " + std::to_string(s.size()) + " bytes " +
                  OverLimit("max-segment-bytes", limits.max_segment_bytes));
    }
    out.path.emplace_back(s.data(), s.size());
  }
  return std::nullopt;
}

ClientMessage ParseLock(const json::object& message,
                        const MessageLimits& limits) {
  const json::value* resources = message.if_contains("resources");
  if (resources == nullptr || !resources->is_array()) {
    return ProtocolError{ProtocolErrorKind::kBadMessage,
                         "resources must be an array"};
  }
  const json::array& list = resources->get_array();
  if (list.empty()) {
    return ProtocolError{ProtocolErrorKind::kBadMessage,
                         "resources must not be empty"};
  }
  if (list.size() > limits.max_resources) {
    return ProtocolError{ProtocolErrorKind::kOverLimit,
                         "lock of " + std::to_string(list.size()) +
                             " resources " +
                             OverLimit("max-resources", limits.max_resources)};
  }
  LockMessage lock;
  lock.resources.resize(list.size());
  std::size_t segments = 0;
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::optional<ProtocolError> error =
        ParseResource(list[i], i, limits, segments, lock.resources[i]);
    if (error) return *std::move(error);
  }
  return lock;
}

// One server frame parsed as a JSON object, for reading its fields.
class ServerObject {
 public:
  explicit ServerObject(std::string_view frame) {
    boost::system::error_code ec;
    value_ = json::parse(frame, ec, &memory_, FrameOptions());
    if (!ec) object_ = value_.if_object();
  }
  ServerObject(const ServerObject&) = delete;
  ServerObject& operator=(const ServerObject&) = delete;

  // Null when the frame is not a JSON object.
  const json::object* object() const { return object_; }
  // A string field; nullopt if absent or not a string.
  std::optional<std::string_view> Text(std::string_view key) const {
    const json::value* v = object_->if_contains(key);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return std::string_view(v->get_string());
  }

 private:
  unsigned char scratch_[1024];
  json::monotonic_resource memory_{scratch_, sizeof scratch_};
  json::value value_;
  const json::object* object_ = nullptr;
};

// A lock ID as the server writes it: a decimal string of a number >= 1.
std::optional<LockId> ParseId(std::string_view text) {
  LockId id = 0;
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, id);
  if (text.empty() || error != std::errc() || ptr != end || id == 0) {
    return std::nullopt;
  }
  return id;
}

}  // namespace

std::string OverLimit(std::string_view flag, std::size_t limit) {
  return "over " + std::string(flag) + " (" + std::to_string(limit) + ")";
}

ClientMessage ParseClientMessage(std::string_view frame,
                                 const MessageLimits& limits) {
  if (frame.size() > limits.max_message_bytes) {
    return ProtocolError{
        ProtocolErrorKind::kOversized,
        "message of " + std::to_string(frame.size()) + " bytes " +
            OverLimit("max-message-bytes", limits.max_message_bytes)};
  }
  // The DOM of a typical lock message fits on the stack; a bigger one
  // continues on the heap. It lives only while this call runs.
  unsigned char scratch[4096];
  json::monotonic_resource memory(scratch, sizeof scratch);
  boost::system::error_code ec;
  json::value value = json::parse(frame, ec, &memory, FrameOptions());
  if (ec) {
    return ProtocolError{ProtocolErrorKind::kBadJson,
                         "invalid JSON: " + ec.message()};
  }
  const json::object* message = value.if_object();
  if (message == nullptr) {
    return ProtocolError{ProtocolErrorKind::kBadJson,
                         "message is not a JSON object"};
  }

  auto bad = [](std::string what) {
    return ProtocolError{ProtocolErrorKind::kBadMessage, std::move(what)};
  };
  const json::value* action = message->if_contains("action");
  if (action == nullptr) return bad("message has no action");
  if (!action->is_string()) return bad("action is not a string");
  const json::string& name = action->get_string();
  if (name == "lock") return ParseLock(*message, limits);
  if (name == "release") return ReleaseMessage{};
  return bad("unknown action " + Quote(name));
}

// The names of the enumerators, in their order.
constexpr auto kConnStateNames =
    std::to_array<std::string_view>({"ready", "enqueued", "acquired"});
constexpr auto kProtocolErrorKindNames = std::to_array<std::string_view>(
    {"bad_json", "bad_message", "oversized", "over_limit", "wrong_state",
     "shutting_down"});
static_assert(kConnStateNames.size() ==
              static_cast<std::size_t>(ConnState::kAcquired) + 1);
static_assert(kProtocolErrorKindNames.size() == kProtocolErrorKinds);

std::string_view Name(ConnState state) {
  const auto i = static_cast<std::size_t>(state);
  return i < kConnStateNames.size() ? kConnStateNames[i] : "?";
}

std::string_view Name(ProtocolErrorKind kind) {
  const auto i = static_cast<std::size_t>(kind);
  return i < kProtocolErrorKindNames.size() ? kProtocolErrorKindNames[i] : "?";
}

std::string_view Name(Action action) {
  return action == Action::kLock ? "lock" : "release";
}

std::string FormatAnswer(const Answer& answer) {
  std::string out;
  out.reserve(64);
  out += R"({"id":")";
  out += std::to_string(answer.id);
  out += R"(","action":")";
  out += Name(answer.action);
  out += R"(","state":")";
  out += Name(answer.state);
  out += R"("})";
  return out;
}

std::string FormatSessionFrame(const SessionFrame& frame) {
  std::string out = R"({"action":"session","state":")";
  out += frame.state == SessionFrame::kNew ? "new" : "resumed";
  out += R"(","session":")";
  out += frame.token;  // URL-safe characters only: nothing to escape
  out += R"(","abandon-timeout-ms":)";
  out += std::to_string(frame.window_ms);
  if (frame.state == SessionFrame::kResumed) {
    if (frame.lock != ConnState::kReady) {
      out += R"(,"id":")";
      out += std::to_string(frame.id);
      out += '"';
    }
    out += R"(,"lock":")";
    out += frame.lock == ConnState::kReady ? "none" : Name(frame.lock);
    out += '"';
  }
  out += '}';
  return out;
}

std::optional<SessionFrame> ParseSessionFrame(std::string_view frame) {
  const ServerObject parsed(frame);
  const json::object* object = parsed.object();
  if (object == nullptr) return std::nullopt;
  const auto action = parsed.Text("action"), state = parsed.Text("state"),
             token = parsed.Text("session");
  const json::value* window = object->if_contains("abandon-timeout-ms");
  if (action != "session" || !state || !token || window == nullptr ||
      !window->is_number()) {
    return std::nullopt;
  }
  SessionFrame out{.token = std::string(*token)};
  if (window->is_uint64()) {
    out.window_ms = window->get_uint64();
  } else if (window->is_int64() && window->get_int64() >= 0) {
    out.window_ms = static_cast<std::uint64_t>(window->get_int64());
  } else {
    return std::nullopt;
  }
  if (*state == "new") return out;
  if (*state != "resumed") return std::nullopt;
  out.state = SessionFrame::kResumed;
  const auto lock = parsed.Text("lock");
  if (lock == "none") return out;
  if (lock == "enqueued") {
    out.lock = ConnState::kEnqueued;
  } else if (lock == "acquired") {
    out.lock = ConnState::kAcquired;
  } else {
    return std::nullopt;
  }
  const auto id = parsed.Text("id");
  const std::optional<LockId> parsed_id = id ? ParseId(*id) : std::nullopt;
  if (!parsed_id) return std::nullopt;
  out.id = *parsed_id;
  return out;
}

std::string FormatError(std::string_view reason) {
  return std::string(kErrorPrefix) + std::string(reason);
}

void AppendResources(std::string& out, std::span<const Resource> resources) {
  out += '[';
  const char* sep = "";
  for (const Resource& r : resources) {
    out += sep;
    out += r.access == Access::kRead ? R"({"type":"read","path":[)"
                                     : R"({"type":"write","path":[)";
    const char* segment_sep = "";
    for (const std::string& segment : r.path) {
      out += segment_sep;
      out += json::serialize(json::string_view(segment));
      segment_sep = ",";
    }
    out += "]}";
    sep = ",";
  }
  out += ']';
}

std::string FormatLock(std::span<const Resource> resources) {
  std::string out = R"({"action":"lock","resources":)";
  AppendResources(out, resources);
  out += '}';
  return out;
}

std::string_view FormatRelease() { return R"({"action":"release"})"; }

std::optional<ServerMessage> ParseServerMessage(std::string_view frame) {
  if (frame.starts_with(kErrorPrefix)) {
    return ErrorFrame{std::string(frame.substr(kErrorPrefix.size()))};
  }
  const ServerObject parsed(frame);
  if (parsed.object() == nullptr) return std::nullopt;
  const auto id = parsed.Text("id"), action = parsed.Text("action"),
             state = parsed.Text("state");
  if (!id || !action || !state) return std::nullopt;

  Answer answer;
  const std::optional<LockId> parsed_id = ParseId(*id);
  if (!parsed_id) return std::nullopt;
  answer.id = *parsed_id;
  if (*action == "lock") {
    answer.action = Action::kLock;
  } else if (*action == "release") {
    answer.action = Action::kRelease;
  } else {
    return std::nullopt;
  }
  if (*state == "ready") {
    answer.state = ConnState::kReady;
  } else if (*state == "enqueued") {
    answer.state = ConnState::kEnqueued;
  } else if (*state == "acquired") {
    answer.state = ConnState::kAcquired;
  } else {
    return std::nullopt;
  }
  return answer;
}

}  // namespace locktopus::wire
