// What freed namespaces leave behind: a bounded summary of their last lock
// IDs, so that a namespace freed while idle and opened again continues above
// every ID it issued before (SEMANTICS.md, Lock ID). A fencing token must
// never repeat or go back within a namespace.
//
// Structure: a fixed table of kBuckets buckets, indexed by a 64-bit hash of
// the name. A bucket is empty, holds one name's hash with its last ID, or is
// mixed: names of different hashes were freed into it, and its mark is the
// largest of their last IDs. Recording only ever raises a mark.
//
// Promise: Floor(name) is at least the last ID of every earlier Record of
// `name`, whatever was recorded between. It is 0 (a fresh namespace counts
// 1, 2, 3, ...) unless the name's bucket is mixed, or holds a name of the
// same 64-bit hash. With n names freed so far, a name never seen starts
// above 0 with probability about n^2 / (2 * kBuckets^2) per lookup: with
// 1,000 freed names, about one in 8,600. Memory: kBuckets * 16 bytes
// (1 MiB), whatever the number of names.
//
// Thread safety: none; the namespace registry calls it under its mutex.

#ifndef LOCKTOPUS_ENGINE_ID_MARKS_H_
#define LOCKTOPUS_ENGINE_ID_MARKS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "engine/types.h"

namespace locktopus {

class IdMarks {
 public:
  static constexpr std::size_t kBuckets = std::size_t{1} << 16;

  IdMarks();

  // The largest last ID recorded for `name` (or for names that share its
  // bucket, see above); 0 if none. A namespace opened as `name` starts its
  // IDs above it.
  LockId Floor(std::string_view name) const;

  // Notes that the namespace `name` was freed after issuing IDs up to
  // `last_id`.
  void Record(std::string_view name, LockId last_id);

  // Buckets that hold a mark.
  std::size_t used() const { return used_; }

  // For tests only: the bucket of `name`.
  static std::size_t TEST_Bucket(std::string_view name) {
    return Hash(name) % kBuckets;
  }

 private:
  // Empty: mark 0. Mixed: a mark, and hash 0 (no name hashes to 0).
  struct Bucket {
    std::uint64_t hash = 0;
    LockId mark = 0;
  };

  // Never 0.
  static std::uint64_t Hash(std::string_view name);

  std::unique_ptr<Bucket[]> buckets_;
  std::size_t used_ = 0;
};

}  // namespace locktopus

#endif  // LOCKTOPUS_ENGINE_ID_MARKS_H_
