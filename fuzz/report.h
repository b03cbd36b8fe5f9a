// How a harness reports a broken check: a readable account on stderr, then
// abort(), which libFuzzer (or the standalone main's caller) treats as a
// crash and saves the input as the reproducer.
//
// Thread safety: pure functions (Fail writes to stderr and does not return).

#ifndef LOCKTOPUS_FUZZ_REPORT_H_
#define LOCKTOPUS_FUZZ_REPORT_H_

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace locktopus::fuzz {

// Prints "<harness>: <account>" and aborts.
[[noreturn]] inline void Fail(std::string_view harness,
                              std::string_view account) {
  std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(harness.size()),
               harness.data(), static_cast<int>(account.size()),
               account.data());
  std::abort();
}

// `bytes` in double quotes, printable ASCII as is, anything else as \xNN.
inline std::string Quoted(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out + '"';
}

}  // namespace locktopus::fuzz

#endif  // LOCKTOPUS_FUZZ_REPORT_H_
