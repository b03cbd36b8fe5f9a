#include "engine/id_marks.h"

#include <algorithm>
#include <functional>

namespace locktopus {

IdMarks::IdMarks() : sets_(std::make_unique<Set[]>(kSets)) {}

std::uint64_t IdMarks::Hash(std::string_view name) {
  const std::uint64_t hash = std::hash<std::string_view>{}(name);
  return hash == 0 ? 1 : hash;
}

LockId IdMarks::Floor(std::string_view name) const {
  const std::uint64_t hash = Hash(name);
  const Set& set = sets_[hash % kSets];
  for (const Entry& entry : set.entries) {
    if (entry.hash == hash) return entry.mark;
  }
  return set.overflow;
}

void IdMarks::Record(std::string_view name, LockId last_id) {
  if (last_id == 0) return;  // issued nothing: nothing to stay above
  const std::uint64_t hash = Hash(name);
  Set& set = sets_[hash % kSets];
  for (Entry& entry : set.entries) {
    if (entry.hash == hash || entry.hash == 0) {
      entry.hash = hash;
      entry.mark = std::max(entry.mark, last_id);
      return;
    }
  }
  if (set.overflow == 0) ++overflowed_;
  set.overflow = std::max(set.overflow, last_id);
}

}  // namespace locktopus
