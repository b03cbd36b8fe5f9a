// request_parser: arbitrary bytes as one client WebSocket frame, into
// ParseClientMessage. It must never crash (the sanitizers watch), and
// whatever it accepts must be what PROTOCOL.md allows:
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
// message refused under the defaults is refused under the tiny limits too.
//
// Input: one byte that picks the tiny limits, then the frame.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

#include "fuzz/byte_reader.h"
#include "fuzz/report.h"
#include "wire/codec.h"

namespace locktopus::fuzz {
namespace {

using wire::ClientMessage;
using wire::LockMessage;
using wire::MessageLimits;
using wire::ProtocolError;

// Every limit small (and so at most the default), and 0 where 0 still
// allows something: a depth of 0 allows the empty path, a segment of 0 bytes
// the empty segment.
MessageLimits TinyLimits(std::uint8_t selector) {
  static constexpr std::size_t kMessageBytes[] = {16, 64, 256, 4096};
  return {.max_message_bytes = kMessageBytes[selector & 3],
          .max_resources = 1 + (selector >> 2 & 3u),
          .max_path_depth = selector >> 4 & 3u,
          .max_segment_bytes = selector >> 6 & 3u,
          // From 0 to 6: under, at and over what depth and resources allow.
          .max_lock_segments = (selector >> 2 & 3u) + (selector >> 4 & 3u)};
}

std::string Describe(const MessageLimits& l) {
  return "{message bytes " + std::to_string(l.max_message_bytes) +
         ", resources " + std::to_string(l.max_resources) + ", depth " +
         std::to_string(l.max_path_depth) + ", segment bytes " +
         std::to_string(l.max_segment_bytes) + ", lock segments " +
         std::to_string(l.max_lock_segments) + "}";
}

std::string Describe(const ClientMessage& message) {
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

bool Accepted(const ClientMessage& message) {
  return !std::holds_alternative<ProtocolError>(message);
}

// True when an accepted `message` read from `frame` is within `limits`.
bool WithinLimits(const ClientMessage& message, std::string_view frame,
                  const MessageLimits& limits) {
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

class Check {
 public:
  explicit Check(std::string_view frame) : frame_(frame) {}

  // PROTOCOL.md's rules for one parse of the frame under `limits`.
  void Alone(const ClientMessage& message, const MessageLimits& limits) {
    if (!Accepted(message)) {
      Require(!std::get<ProtocolError>(message).reason.empty(),
              "a refusal without a reason", message, limits);
      return;
    }
    Require(WithinLimits(message, frame_, limits),
            "an accepted message over a limit", message, limits);
    const auto* lock = std::get_if<LockMessage>(&message);
    if (lock == nullptr) return;
    Require(!lock->resources.empty(), "an accepted lock of no resources",
            message, limits);
    for (const Resource& r : lock->resources) {
      Require(r.access == Access::kRead || r.access == Access::kWrite,
              "a resource neither read nor write", message, limits);
    }
    // FormatLock's spelling may be longer than the frame's; only the message
    // size limit is lifted for the round trip.
    MessageLimits unbounded = limits;
    unbounded.max_message_bytes = std::numeric_limits<std::size_t>::max();
    const ClientMessage again =
        wire::ParseClientMessage(wire::FormatLock(lock->resources), unbounded);
    Require(again == message,
            "a lock that does not round-trip through FormatLock; again: " +
                Describe(again),
            message, limits);
  }

  // The default limits' answer against the tiny limits' answer.
  void Agree(const ClientMessage& loose, const ClientMessage& tight,
             const MessageLimits& tiny) {
    if (!Accepted(loose)) {
      Require(!Accepted(tight),
              "accepted under tiny limits, refused under the defaults (" +
                  Describe(loose) + ")",
              tight, tiny);
    } else if (WithinLimits(loose, frame_, tiny)) {
      Require(tight == loose,
              "within the tiny limits, but the answer differs from the "
              "defaults' (" +
                  Describe(loose) + ")",
              tight, tiny);
    } else {
      Require(!Accepted(tight) && std::get<ProtocolError>(tight).reason.find(
                                      "over max-") != std::string::npos,
              "over a tiny limit, but not refused naming it", tight, tiny);
    }
  }

 private:
  void Require(bool ok, const std::string& what, const ClientMessage& message,
               const MessageLimits& limits) {
    if (ok) return;
    Fail("request_parser", what + "\nframe:   " + Quoted(frame_) +
                               "\nlimits:  " + Describe(limits) +
                               "\nmessage: " + Describe(message));
  }

  std::string_view frame_;
};

}  // namespace
}  // namespace locktopus::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace locktopus;
  using namespace locktopus::fuzz;
  ByteReader in(data, size);
  const wire::MessageLimits tiny = TinyLimits(in.Byte());
  const std::string_view frame = in.Rest();

  const wire::MessageLimits defaults;
  const wire::ClientMessage loose = wire::ParseClientMessage(frame, defaults);
  const wire::ClientMessage tight = wire::ParseClientMessage(frame, tiny);
  Check check(frame);
  check.Alone(loose, defaults);
  check.Alone(tight, tiny);
  check.Agree(loose, tight, tiny);
  return 0;
}
