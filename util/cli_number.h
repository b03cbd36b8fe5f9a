// A CLI11 check for the integer flags of the server and of locktopusctl:
// the value must be an integer within a range, and a value that is not
// says so in one short line, "abc is not a number in 0..65535" (CLI11 puts
// the flag's name before it: "--port: abc is not ..."). CLI11's own
// NonNegativeNumber and PositiveNumber are ranges of doubles, whose
// messages print DBL_MAX in full, 309 digits.
//
// Header-only, for the two executables that link CLI11.
//
// Thread safety: a Validator is a value; its check is pure.

#ifndef LOCKTOPUS_UTIL_CLI_NUMBER_H_
#define LOCKTOPUS_UTIL_CLI_NUMBER_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

namespace locktopus {

// Accepts what CLI11 reads into a T (decimal, or 0x… hexadecimal as
// strtoull reads it) from `low` to `high` inclusive, and no negative
// value for an unsigned T, which CLI11 would wrap round to a huge one.
// The range is written "in 1..3600000", or "of 1 or more" when `high` is
// the largest 64-bit value (20 digits that say nothing); --help shows it
// after the type ("UINT:1..3600000"), unless it is the whole of a 64-bit
// type's.
template <class T>
CLI::Validator NumberIn(T low = std::numeric_limits<T>::min(),
                        T high = std::numeric_limits<T>::max()) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  const bool open = static_cast<std::uint64_t>(high) ==
                    std::numeric_limits<std::uint64_t>::max();
  const std::string range =
      open ? "of " + std::to_string(low) + " or more"
           : "in " + std::to_string(low) + ".." + std::to_string(high);
  std::string description;
  if (!open) {
    description = std::to_string(low) + ".." + std::to_string(high);
  } else if (low != 0) {
    description = ">=" + std::to_string(low);
  }
  return CLI::Validator(
      [low, high, range](std::string& input) {
        T value{};
        const bool negative =
            std::is_unsigned_v<T> && input.find('-') != std::string::npos;
        if (negative || !CLI::detail::lexical_cast(input, value) ||
            value < low || value > high) {
          return input + " is not a number " + range;
        }
        return std::string();
      },
      description);
}

}  // namespace locktopus

#endif  // LOCKTOPUS_UTIL_CLI_NUMBER_H_
