#include "etcd/types.h"

#include <cinttypes>
#include <cstdio>
#include <utility>

namespace locktopus::etcd {

std::string HexId(std::uint64_t id) {
  char text[17];
  std::snprintf(text, sizeof text, "%016" PRIx64, id);
  return text;
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  // Drop trailing 0xff bytes, which cannot be incremented, then increment
  // the last byte.
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() =
          static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  // etcd reads a range end of "\0" as "every key from the start key on".
  return std::string(1, '\0');
}

Compare Compare::CreateRevision(std::string key, Op op, Revision revision) {
  return {.key = std::move(key),
          .target = Target::kCreateRevision,
          .op = op,
          .number = revision};
}

Compare Compare::ModRevision(std::string key, Op op, Revision revision) {
  return {.key = std::move(key),
          .target = Target::kModRevision,
          .op = op,
          .number = revision};
}

Compare Compare::Version(std::string key, Op op, std::int64_t version) {
  return {.key = std::move(key),
          .target = Target::kVersion,
          .op = op,
          .number = version};
}

Compare Compare::Value(std::string key, Op op, std::string value) {
  return {.key = std::move(key),
          .target = Target::kValue,
          .op = op,
          .value = std::move(value)};
}

}  // namespace locktopus::etcd
