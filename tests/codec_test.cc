// The wire codec (docs/protocol.md's frames): what clients send, parsed and
// validated within the limits, and what the server answers, written and
// read back.

#include "wire/codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/test_support.h"
#include "wire/utf8.h"

namespace locktopus::wire {

// For failure messages.
inline std::ostream& operator<<(std::ostream& os, const ServerMessage& m) {
  if (const auto* e = std::get_if<ErrorFrame>(&m)) {
    return os << "error [" << e->reason << "]";
  }
  const Answer& a = std::get<Answer>(m);
  return os << FormatAnswer(a);
}

namespace {

using locktopus::testing::R;
using locktopus::testing::W;

ClientMessage Parse(std::string_view text, MessageLimits limits = {}) {
  return ParseClientMessage(text, limits);
}

std::string ErrorOf(std::string_view text, MessageLimits limits = {}) {
  ClientMessage m = Parse(text, limits);
  auto* error = std::get_if<ProtocolError>(&m);
  return error ? error->reason : "(no error)";
}

TEST(Protocol, ParsesLockWithEveryTypeSpelling) {
  EXPECT_EQ(Parse(R"({"action":"lock","resources":[
      {"type":"write","path":["a","b"]},{"type":"read","path":[]},
      {"type":"W","path":["c"]},{"type":"r","path":[""]},
      {"type":"ReAd","path":["x/y"]}]})"),
            ClientMessage(LockMessage{
                {W({"a", "b"}), R({}), W({"c"}), R({""}), R({"x/y"})}}));
}

TEST(Protocol, IgnoresUnknownFields) {
  EXPECT_EQ(Parse(R"({"action":"release","x":1})"),
            ClientMessage(ReleaseMessage{}));
  EXPECT_EQ(Parse(R"({"id":"7","action":"lock","resources":[
      {"type":"read","path":["a"],"extra":true}]})"),
            ClientMessage(LockMessage{{R({"a"})}}));
}

TEST(Protocol, RoundTripsValidLocks) {
  const std::vector<Resource> lock = {W({"a", "\"q\"", "\n"}), R({})};
  EXPECT_EQ(Parse(FormatLock(lock)), ClientMessage(LockMessage{lock}));
}

TEST(Protocol, RefusesEveryMalformedMessage) {
  EXPECT_EQ(ErrorOf("{").rfind("invalid JSON", 0), 0u);
  EXPECT_EQ(ErrorOf("").rfind("invalid JSON", 0), 0u);
  EXPECT_EQ(ErrorOf("[]"), "message is not a JSON object");
  EXPECT_EQ(ErrorOf("\"lock\""), "message is not a JSON object");
  EXPECT_EQ(ErrorOf("{}"), "message has no action");
  EXPECT_EQ(ErrorOf(R"({"action":1})"), "action is not a string");
  EXPECT_EQ(ErrorOf(R"({"action":"unlock"})"), "unknown action [unlock]");
  EXPECT_EQ(ErrorOf(R"({"action":"lock"})"), "resources must be an array");
  EXPECT_EQ(ErrorOf(R"({"action":"lock","resources":{}})"),
            "resources must be an array");
  EXPECT_EQ(ErrorOf(R"({"action":"lock","resources":[]})"),
            "resources must not be empty");
  EXPECT_EQ(ErrorOf(R"({"action":"lock","resources":["a"]})"),
            "resource 0 is not an object");
  EXPECT_EQ(ErrorOf(R"({"action":"lock","resources":[{"path":[]}]})"),
            "resource 0 has no type");
  EXPECT_EQ(ErrorOf(R"({"action":"lock","resources":[
      {"type":"read","path":[]},{"type":"rw","path":[]}]})"),
            "resource 1 has unknown type [rw]");
  EXPECT_EQ(ErrorOf(R"({"action":"lock","resources":[{"type":"read"}]})"),
            "resource 0 path is not an array of strings");
  EXPECT_EQ(
      ErrorOf(R"({"action":"lock","resources":[{"type":"read","path":"a"}]})"),
      "resource 0 path is not an array of strings");
  EXPECT_EQ(
      ErrorOf(R"({"action":"lock","resources":[{"type":"read","path":[1]}]})"),
      "resource 0 path is not an array of strings");
}

TEST(Protocol, LimitsAreProtocolErrorsNamingTheFlag) {
  MessageLimits limits{.max_message_bytes = 200,
                       .max_resources = 2,
                       .max_path_depth = 2,
                       .max_segment_bytes = 3,
                       .max_lock_segments = 3};
  EXPECT_EQ(ErrorOf(std::string(201, ' '), limits),
            "message of 201 bytes over max-message-bytes (200)");
  EXPECT_EQ(ErrorOf(R"({"action":"lock","resources":[{"type":"r","path":[]},
      {"type":"r","path":[]},{"type":"r","path":[]}]})",
                    limits),
            "lock of 3 resources over max-resources (2)");
  EXPECT_EQ(ErrorOf(R"({"action":"lock","resources":[
      {"type":"r","path":["a","b","c"]}]})",
                    limits),
            "resource 0 path depth 3 over max-path-depth (2)");
  EXPECT_EQ(ErrorOf(R"({"action":"lock","resources":[
      {"type":"r","path":["abcd"]}]})",
                    limits),
            "resource 0 path segment of 4 bytes over max-segment-bytes (3)");
  EXPECT_EQ(ErrorOf(R"({"action":"lock","resources":[
      {"type":"r","path":["a","b"]},{"type":"w","path":["c","d"]}]})",
                    limits),
            "lock of at least 4 path segments over "
            "max-lock-segments (3)");
  // At the limits exactly: accepted.
  EXPECT_EQ(
      Parse(R"({"action":"lock","resources":[{"type":"r","path":["abc","d"]},
      {"type":"w","path":["e"]}]})",
            limits),
      ClientMessage(LockMessage{{R({"abc", "d"}), W({"e"})}}));
}

ProtocolErrorKind KindOf(std::string_view text, MessageLimits limits = {}) {
  ClientMessage m = Parse(text, limits);
  auto* error = std::get_if<ProtocolError>(&m);
  EXPECT_NE(error, nullptr) << text;
  return error ? error->kind : ProtocolErrorKind::kShuttingDown;
}

TEST(Protocol, ErrorsHaveAKindForMetrics) {
  using enum ProtocolErrorKind;
  EXPECT_EQ(KindOf("{"), kBadJson);
  EXPECT_EQ(KindOf(std::string(10000, '[')), kBadJson);
  EXPECT_EQ(KindOf("[]"), kBadJson);
  EXPECT_EQ(KindOf("{}"), kBadMessage);
  EXPECT_EQ(KindOf(R"({"action":"unlock"})"), kBadMessage);
  EXPECT_EQ(KindOf(R"({"action":"lock","resources":[]})"), kBadMessage);
  EXPECT_EQ(KindOf(R"({"action":"lock","resources":[{"type":"x","path":[]}]})"),
            kBadMessage);
  EXPECT_EQ(
      KindOf(R"({"action":"lock","resources":[{"type":"r","path":[1]}]})"),
      kBadMessage);
  const MessageLimits limits{.max_message_bytes = 200,
                             .max_resources = 1,
                             .max_path_depth = 1,
                             .max_segment_bytes = 1};
  EXPECT_EQ(KindOf(std::string(201, ' '), limits), kOversized);
  EXPECT_EQ(KindOf(R"({"action":"lock","resources":[{"type":"r","path":[]},
      {"type":"r","path":[]}]})",
                   limits),
            kOverLimit);
  EXPECT_EQ(
      KindOf(R"({"action":"lock","resources":[{"type":"r","path":["a","b"]}]})",
             limits),
      kOverLimit);
  EXPECT_EQ(
      KindOf(R"({"action":"lock","resources":[{"type":"r","path":["ab"]}]})",
             limits),
      kOverLimit);
  EXPECT_EQ(Name(kBadJson), "bad_json");
  EXPECT_EQ(Name(kShuttingDown), "shutting_down");
}

TEST(Protocol, RefusesDeepNestingWithoutRecursing) {
  EXPECT_EQ(ErrorOf(std::string(10000, '[')).rfind("invalid JSON", 0), 0u);
}

TEST(Protocol, ShortenedReasonsStayValidUtf8) {
  EXPECT_EQ(TruncateUtf8("abc", 5), "abc");
  EXPECT_EQ(TruncateUtf8("abcdef", 3), "abc");
  // "é" is two bytes: a cut between them backs off before it.
  EXPECT_EQ(TruncateUtf8("ab\xC3\xA9", 3), "ab");
  EXPECT_EQ(TruncateUtf8("\xE2\x82\xAC!", 2), "");  // a three-byte euro sign
  std::string type = std::string(63, 'x') + "\xC3\xA9";
  EXPECT_EQ(ErrorOf(R"({"action":"lock","resources":[{"type":")" + type +
                    R"(","path":[]}]})"),
            "resource 0 has unknown type [" + std::string(63, 'x') + "...]");
}

TEST(Protocol, FormatsAnswers) {
  EXPECT_EQ(FormatAnswer({17, Action::kLock, ConnState::kEnqueued}),
            R"({"id":"17","action":"lock","state":"enqueued"})");
  EXPECT_EQ(FormatAnswer({1, Action::kRelease, ConnState::kReady}),
            R"({"id":"1","action":"release","state":"ready"})");
  EXPECT_EQ(FormatError("why"), "communication error: why");
  EXPECT_EQ(FormatRelease(), R"({"action":"release"})");
  EXPECT_EQ(Parse(FormatRelease()), ClientMessage(ReleaseMessage{}));
}

TEST(Protocol, ReadsBackWhatTheServerWrites) {
  for (const Answer& answer : {Answer{17, Action::kLock, ConnState::kEnqueued},
                               Answer{18, Action::kLock, ConnState::kAcquired},
                               Answer{(std::uint64_t{1} << 53) - 1,
                                      Action::kRelease, ConnState::kReady}}) {
    EXPECT_EQ(ParseServerMessage(FormatAnswer(answer)),
              std::optional<ServerMessage>(answer));
  }
  EXPECT_EQ(ParseServerMessage(FormatError("invalid action [x]")),
            std::optional<ServerMessage>(ErrorFrame{"invalid action [x]"}));
  // Fields may come in any order, and unknown ones are ignored.
  EXPECT_EQ(ParseServerMessage(
                R"({"state":"ready","x":[1],"action":"release","id":"3"})"),
            std::optional<ServerMessage>(
                Answer{3, Action::kRelease, ConnState::kReady}));
}

TEST(Protocol, RefusesWhatIsNotAnAnswer) {
  for (const char* frame :
       {"", "{", "[]", R"({"id":"1","action":"lock"})",
        R"({"id":1,"action":"lock","state":"acquired"})",
        R"({"id":"0","action":"lock","state":"acquired"})",
        R"({"id":"-1","action":"lock","state":"acquired"})",
        R"({"id":"1x","action":"lock","state":"acquired"})",
        R"({"id":"","action":"lock","state":"acquired"})",
        R"({"id":"99999999999999999999","action":"lock","state":"acquired"})",
        R"({"id":"1","action":"unlock","state":"acquired"})",
        R"({"id":"1","action":"lock","state":"held"})",
        "communication error"}) {
    EXPECT_EQ(ParseServerMessage(frame), std::nullopt) << frame;
  }
}

}  // namespace
}  // namespace locktopus::wire
