// UTF-8, strictly (RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF): the one decoder of the tree, for the codec's shortened reasons,
// the server's client names and metric labels, and the text locktopusctl
// prints and the client names it sends.
//
// Thread safety: pure functions.

#ifndef LOCKTOPUS_WIRE_UTF8_H_
#define LOCKTOPUS_WIRE_UTF8_H_

#include <cstddef>
#include <string_view>

namespace locktopus::wire {

// The length in bytes (1 to 4) of the valid UTF-8 character at text[at],
// with its code point in *code_point; 0 if the bytes there are not one.
// Needs at < text.size().
std::size_t DecodeUtf8(std::string_view text, std::size_t at,
                       char32_t* code_point);

// The length of the valid UTF-8 character at the start of `text` (not
// empty), or 0: none starts there.
std::size_t Utf8CharLength(std::string_view text);

// The longest prefix of UTF-8 `text` of at most `max_bytes` that does not
// end inside a character, so that shortened reasons stay valid text frames.
std::string_view TruncateUtf8(std::string_view text, std::size_t max_bytes);

}  // namespace locktopus::wire

#endif  // LOCKTOPUS_WIRE_UTF8_H_
