// RESP, Redis's wire format (version 2), as far as locktopus-bench's Redis
// lock clients need it: commands out, and the replies those commands get —
// simple strings (+OK), errors (-ERR ...), integers (:1), bulk strings
// ($3\r\nabc) and the null bulk string ($-1, what SET ... NX answers when
// the key exists). Arrays never answer these commands and are refused. Not
// a general Redis client. No I/O.
//
//   command   *3\r\n$3\r\nGET\r\n$1\r\nk\r\n          (an array of bulk
//   strings) replies   +OK\r\n   -ERR wrong\r\n   :1\r\n   $2\r\nhi\r\n $-1\r\n
//
// Thread safety: pure functions.

#ifndef LOCKTOPUS_BENCH_RESP_H_
#define LOCKTOPUS_BENCH_RESP_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace locktopus::bench::resp {

// A command: its words as an array of bulk strings.
std::string Command(std::initializer_list<std::string_view> words);

struct Reply {
  enum class Kind { kSimple, kError, kInteger, kBulk, kNull };
  Kind kind = Kind::kNull;
  std::string text;          // kSimple, kError (without the '-'), kBulk
  std::int64_t integer = 0;  // kInteger
  bool operator==(const Reply&) const = default;
};

enum class Parse {
  kDone,        // `reply` holds the first reply; `used` bytes were read
  kIncomplete,  // `data` ends before the first reply does: read more
  kMalformed,   // not one of the replies above
};

// Parses the reply at the front of `data`. Bulk strings are bounded by
// `max_bulk` bytes (a longer one is malformed).
Parse ParseReply(std::string_view data, Reply& reply, std::size_t& used,
                 std::size_t max_bulk = 1 << 20);

}  // namespace locktopus::bench::resp

#endif  // LOCKTOPUS_BENCH_RESP_H_
