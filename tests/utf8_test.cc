// The one UTF-8 decoder (wire/utf8.h): code points of one to four bytes, and
// every form RFC 3629 rules out refused.

#include "wire/utf8.h"

#include <gtest/gtest.h>

#include <string_view>
#include <utility>

namespace locktopus::wire {
namespace {

// DecodeUtf8 at the start of `text`: {length, code point}.
std::pair<std::size_t, char32_t> Decode(std::string_view text) {
  char32_t c = 0;
  const std::size_t length = DecodeUtf8(text, 0, &c);
  return {length, c};
}

TEST(Utf8, DecodesOneToFourBytes) {
  EXPECT_EQ(Decode("a"), std::make_pair(std::size_t{1}, char32_t{'a'}));
  EXPECT_EQ(Decode("\xC2\xA0"), std::make_pair(std::size_t{2}, char32_t{0xA0}));
  EXPECT_EQ(Decode("\xE2\x82\xAC"),
            std::make_pair(std::size_t{3}, char32_t{0x20AC}));
  EXPECT_EQ(Decode("\xF4\x8F\xBF\xBF"),
            std::make_pair(std::size_t{4}, char32_t{0x10FFFF}));
  char32_t c = 0;
  EXPECT_EQ(DecodeUtf8("x\xC3\xA9", 1, &c), 2u);
  EXPECT_EQ(c, char32_t{0xE9});
  EXPECT_EQ(Utf8CharLength("\xE2\x82\xAC!"), 3u);
}

TEST(Utf8, RefusesWhatRfc3629RulesOut) {
  for (std::string_view bad : {
           "\x80",              // a continuation byte first
           "\xC0\xAF",          // overlong
           "\xC1\xBF",          // overlong
           "\xE0\x9F\xBF",      // overlong
           "\xF0\x8F\xBF\xBF",  // overlong
           "\xED\xA0\x80",      // a surrogate
           "\xF4\x90\x80\x80",  // above U+10FFFF
           "\xF5\x80\x80\x80",  // above U+10FFFF
           "\xFF",              // never in UTF-8
           "\xE2\x82",          // cut short
           "\xE2\x28\xA1",      // not a continuation byte
       }) {
    EXPECT_EQ(Utf8CharLength(bad), 0u) << ::testing::PrintToString(bad);
  }
}

}  // namespace
}  // namespace locktopus::wire
