#include "engine/id_marks.h"

#include <algorithm>
#include <functional>

namespace locktopus {

IdMarks::IdMarks() : buckets_(std::make_unique<Bucket[]>(kBuckets)) {}

std::uint64_t IdMarks::Hash(std::string_view name) {
  const std::uint64_t hash = std::hash<std::string_view>{}(name);
  return hash == 0 ? 1 : hash;
}

LockId IdMarks::Floor(std::string_view name) const {
  const std::uint64_t hash = Hash(name);
  const Bucket& bucket = buckets_[hash % kBuckets];
  return bucket.hash == hash || bucket.hash == 0 ? bucket.mark : 0;
}

void IdMarks::Record(std::string_view name, LockId last_id) {
  if (last_id == 0) return;  // issued nothing: nothing to stay above
  const std::uint64_t hash = Hash(name);
  Bucket& bucket = buckets_[hash % kBuckets];
  if (bucket.mark == 0) {
    bucket = {.hash = hash, .mark = last_id};
    ++used_;
    return;
  }
  if (bucket.hash != hash) bucket.hash = 0;  // now mixed
  bucket.mark = std::max(bucket.mark, last_id);
}

}  // namespace locktopus
