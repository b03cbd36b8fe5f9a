// The one reading of an unsigned integer from JSON that the HA records and
// the replication messages share: a JSON number of 0 or more, whichever way
// Boost.JSON stored it.
//
// Thread safety: a pure function.

#ifndef LOCKTOPUS_SERVER_CORE_HA_JSON_NUMBER_H_
#define LOCKTOPUS_SERVER_CORE_HA_JSON_NUMBER_H_

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>

namespace locktopus::server::ha {

// `value` as an unsigned integer; nullopt if absent (null), negative,
// fractional or not a number.
inline std::optional<std::uint64_t> UnsignedOf(
    const boost::json::value* value) {
  if (value == nullptr) return std::nullopt;
  if (value->is_uint64()) return value->get_uint64();
  if (value->is_int64() && value->get_int64() >= 0) {
    return static_cast<std::uint64_t>(value->get_int64());
  }
  return std::nullopt;
}

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_JSON_NUMBER_H_
