// request_parser: arbitrary bytes as one client WebSocket frame, into
// ParseClientMessage. It must never crash (the sanitizers watch), and
// whatever it accepts must be what docs/protocol.md allows:
//   - the frame is within max-message-bytes;
//   - a lock has a non-empty list of at most max-resources resources, each
//     read or write, with a path of at most max-path-depth segments of at
//     most max-segment-bytes each, and at most max-lock-segments segments
//     in all;
//   - a lock round-trips: ParseClientMessage(FormatLock(resources)) gives the
//     same message back;
//   - a refusal has a reason.
// The frame is parsed twice, under the default MessageLimits and under tiny
// ones, and the two must agree: a message accepted under the defaults is
// accepted unchanged under the tiny limits when it is within them, and
// otherwise refused with a reason naming the limit ("over max-..."); a
// message refused under the defaults is refused under the tiny limits too
// (fuzz/limits_check.h).
//
// Input: one byte that picks the tiny limits, then the frame.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

#include "fuzz/limits_check.h"
#include "fuzz/report.h"
#include "wire/codec.h"

namespace locktopus::fuzz {
namespace {

using wire::ClientMessage;
using wire::LockMessage;
using wire::MessageLimits;
using wire::ProtocolError;

struct RequestParser {
  using Limits = MessageLimits;
  using Answer = ClientMessage;
  static constexpr std::string_view kHarness = "request_parser";
  static constexpr std::string_view kInput = "frame";
  static constexpr std::string_view kAnswer = "message";

  // Every limit small (and so at most the default), and 0 where 0 still
  // allows something: a depth of 0 allows the empty path, a segment of 0 bytes
  // the empty segment.
  static Limits Tight(std::uint8_t selector) {
    static constexpr std::size_t kMessageBytes[] = {16, 64, 256, 4096};
    return {.max_message_bytes = kMessageBytes[selector & 3],
            .max_resources = 1 + (selector >> 2 & 3u),
            .max_path_depth = selector >> 4 & 3u,
            .max_segment_bytes = selector >> 6 & 3u,
            // From 0 to 6: under, at and over what depth and resources allow.
            .max_lock_segments = (selector >> 2 & 3u) + (selector >> 4 & 3u)};
  }

  static std::string Describe(const Limits& l) {
    return "{message bytes " + std::to_string(l.max_message_bytes) +
           ", resources " + std::to_string(l.max_resources) + ", depth " +
           std::to_string(l.max_path_depth) + ", segment bytes " +
           std::to_string(l.max_segment_bytes) + ", lock segments " +
           std::to_string(l.max_lock_segments) + "}";
  }

  static std::string Describe(const Answer& message) {
    if (const auto* error = std::get_if<ProtocolError>(&message)) {
      return "error " + Quoted(error->reason);
    }
    const auto* lock = std::get_if<LockMessage>(&message);
    if (lock == nullptr) return "release";
    std::string out = "lock {";
    for (const Resource& r : lock->resources) {
      out += r.access == Access::kRead ? " read [" : " write [";
      for (const std::string& segment : r.path) out += Quoted(segment) + " ";
      out += "]";
    }
    return out + " }";
  }

  // Whether an accepted `message` read from `frame` is within `limits`.
  static bool WithinLimits(const Answer& message, std::string_view frame,
                           const Limits& limits) {
    if (frame.size() > limits.max_message_bytes) return false;
    const auto* lock = std::get_if<LockMessage>(&message);
    if (lock == nullptr) return true;
    if (lock->resources.size() > limits.max_resources) return false;
    std::size_t segments = 0;
    for (const Resource& r : lock->resources) {
      if (r.path.size() > limits.max_path_depth) return false;
      segments += r.path.size();
      if (segments > limits.max_lock_segments) return false;
      for (const std::string& segment : r.path) {
        if (segment.size() > limits.max_segment_bytes) return false;
      }
    }
    return true;
  }

  static Answer Read(std::string_view frame, const Limits& limits) {
    return wire::ParseClientMessage(frame, limits);
  }
  // A protocol error: a frame refused under the defaults is refused under
  // any limits.
  static bool Refused(const Answer& message) {
    return std::holds_alternative<ProtocolError>(message);
  }
  static std::string_view RefusalText(const Answer& message) {
    return std::get<ProtocolError>(message).reason;
  }
  // Every message has a size, within max-message-bytes or not.
  static bool Limited(const Answer&) { return true; }

  // A refusal has a reason; an accepted lock has resources, each read or
  // write, and round-trips through FormatLock.
  static void CheckAlone(const LimitsCheck<RequestParser>& check,
                         const Answer& message, const Limits& limits) {
    if (Refused(message)) {
      check.Require(!RefusalText(message).empty(), "a refusal without a reason",
                    message, limits);
      return;
    }
    const auto* lock = std::get_if<LockMessage>(&message);
    if (lock == nullptr) return;
    check.Require(!lock->resources.empty(), "an accepted lock of no resources",
                  message, limits);
    for (const Resource& r : lock->resources) {
      check.Require(r.access == Access::kRead || r.access == Access::kWrite,
                    "a resource neither read nor write", message, limits);
    }
    // FormatLock's spelling may be longer than the frame's; only the message
    // size limit is lifted for the round trip.
    MessageLimits unbounded = limits;
    unbounded.max_message_bytes = std::numeric_limits<std::size_t>::max();
    const ClientMessage again =
        wire::ParseClientMessage(wire::FormatLock(lock->resources), unbounded);
    check.Require(again == message,
                  "a lock that does not round-trip through FormatLock; "
                  "again: " +
                      Describe(again),
                  message, limits);
  }
};

}  // namespace
}  // namespace locktopus::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace locktopus::fuzz;
  LimitsCheck<RequestParser>::Run(data, size);
  return 0;
}
