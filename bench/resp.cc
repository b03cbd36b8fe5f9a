#include "bench/resp.h"

#include <charconv>

namespace locktopus::bench::resp {
namespace {

constexpr std::string_view kCrlf = "\r\n";

// A decimal integer filling all of `text`, with an optional '-'.
bool ToInteger(std::string_view text, std::int64_t& value) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end;
}

}  // namespace

std::string Command(std::initializer_list<std::string_view> words) {
  std::string out = "*" + std::to_string(words.size());
  out += kCrlf;
  for (const std::string_view word : words) {
    out += '$';
    out += std::to_string(word.size());
    out += kCrlf;
    out += word;
    out += kCrlf;
  }
  return out;
}

Parse ParseReply(std::string_view data, Reply& reply, std::size_t& used,
                 std::size_t max_bulk) {
  const std::size_t line_end = data.find(kCrlf);
  if (line_end == std::string_view::npos) {
    // A line holds no CR; one that does before its LF is not RESP.
    const std::size_t cr = data.find('\r');
    if (cr != std::string_view::npos && cr + 1 < data.size()) {
      return Parse::kMalformed;
    }
    return data.empty() || (data[0] == '+' || data[0] == '-' ||
                            data[0] == ':' || data[0] == '$')
               ? Parse::kIncomplete
               : Parse::kMalformed;
  }
  if (line_end == 0) return Parse::kMalformed;
  const std::string_view line = data.substr(1, line_end - 1);
  const std::size_t after_line = line_end + kCrlf.size();
  Reply r;
  switch (data[0]) {
    case '+':
    case '-':
      if (line.find('\r') != std::string_view::npos ||
          line.find('\n') != std::string_view::npos) {
        return Parse::kMalformed;
      }
      r.kind = data[0] == '+' ? Reply::Kind::kSimple : Reply::Kind::kError;
      r.text = line;
      used = after_line;
      break;
    case ':':
      if (!ToInteger(line, r.integer)) return Parse::kMalformed;
      r.kind = Reply::Kind::kInteger;
      used = after_line;
      break;
    case '$': {
      std::int64_t size = 0;
      if (!ToInteger(line, size) || size < -1) return Parse::kMalformed;
      if (size == -1) {
        r.kind = Reply::Kind::kNull;
        used = after_line;
        break;
      }
      if (static_cast<std::uint64_t>(size) > max_bulk) return Parse::kMalformed;
      const std::size_t n = static_cast<std::size_t>(size);
      if (data.size() < after_line + n + kCrlf.size()) {
        return Parse::kIncomplete;
      }
      if (data.substr(after_line + n, kCrlf.size()) != kCrlf) {
        return Parse::kMalformed;
      }
      r.kind = Reply::Kind::kBulk;
      r.text = data.substr(after_line, n);
      used = after_line + n + kCrlf.size();
      break;
    }
    default:
      return Parse::kMalformed;  // arrays, RESP3 types, garbage
  }
  reply = std::move(r);
  return Parse::kDone;
}

}  // namespace locktopus::bench::resp
