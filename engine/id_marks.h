// What freed namespaces leave behind: a bounded summary of their last lock
// IDs, so that a namespace freed while idle and opened again continues above
// every ID it issued before (docs/semantics.md, Namespaces and their IDs).
// A fencing token must never repeat or go back within a namespace.
//
// Structure: a fixed table of kSets sets, chosen by a 64-bit hash of the
// name. A set keeps up to kWays names (by hash) each with its own mark, the
// last ID it was freed with; a name freed into a full set raises the set's
// overflow mark instead. Marks only ever go up, and a name that has an
// entry is always recorded there.
//
// Promise: Floor(name) is at least the last ID of every earlier Record of
// `name`, whatever was recorded between. For a name never recorded it is 0
// (a fresh namespace counts 1, 2, 3, ...) unless more than kWays other names
// have been freed into its set (or one of the same 64-bit hash); then it is
// that set's overflow mark. With n names freed so far, a set overflows with
// about the probability that a Poisson variable of mean n / kSets exceeds
// kWays: for n = 1,000 about 1 in 10^8 per lookup, for n = 20,000 about 1 in
// 110; from about 100,000 names on, most sets have. Memory: 72 bytes per set,
// 1.1 MiB, whatever the number of names.
//
// Thread safety: none; the namespace registry calls it under its mutex.

#ifndef LOCKTOPUS_ENGINE_ID_MARKS_H_
#define LOCKTOPUS_ENGINE_ID_MARKS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "engine/types.h"

namespace locktopus {

class IdMarks {
 public:
  static constexpr std::size_t kSets = std::size_t{1} << 14;
  static constexpr std::size_t kWays = 4;

  IdMarks();

  // The largest last ID recorded for `name`, or for the names its set could
  // not hold (see above); 0 if none. A namespace opened as `name` starts its
  // IDs above it.
  LockId Floor(std::string_view name) const;

  // Notes that the namespace `name` was freed after issuing IDs up to
  // `last_id`.
  void Record(std::string_view name, LockId last_id);

  // Sets that some name freed into them found full.
  std::size_t overflowed() const { return overflowed_; }

  // For tests only: the set of `name`.
  static std::size_t TEST_Set(std::string_view name) {
    return Hash(name) % kSets;
  }

 private:
  struct Entry {
    std::uint64_t hash = 0;  // 0: free (no name hashes to 0)
    LockId mark = 0;
  };
  struct Set {
    std::array<Entry, kWays> entries;
    LockId overflow = 0;  // the largest last ID of a name that found it full
  };

  // Never 0.
  static std::uint64_t Hash(std::string_view name);

  std::unique_ptr<Set[]> sets_;
  std::size_t overflowed_ = 0;
};

}  // namespace locktopus

#endif  // LOCKTOPUS_ENGINE_ID_MARKS_H_
