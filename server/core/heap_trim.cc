#include "server/core/heap_trim.h"

#include <algorithm>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace locktopus::server {

bool HeapTrimmer::Observe(std::uint64_t lock_bytes) {
  peak_ = std::max(peak_, lock_bytes);
  const std::uint64_t fall = peak_ - lock_bytes;
  if (fall < std::max(kMinFall, peak_ / 8)) return false;
  peak_ = lock_bytes;
  return true;
}

bool HeapTrimmer::MaybeTrim(std::uint64_t lock_bytes) {
  if (!Observe(lock_bytes)) return false;
  TrimHeap();
  return true;
}

void TrimHeap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

void UseOneHeapArena() {
#if defined(__GLIBC__)
  mallopt(M_ARENA_MAX, 1);
#endif
}

}  // namespace locktopus::server
