// Gives the heap memory that freed lock state leaves behind back to the
// system. glibc keeps freed chunks for reuse: after a burst of large locks
// (an attack refused by --max-lock-memory, say) the process would keep its
// peak RSS for good. The server samples the lock memory in use now and then
// (HeapTrimmer::Observe); once it has fallen well below its peak since the
// last trim, the free pages of every malloc arena are returned
// (malloc_trim).
//
// Thread safety: not thread-safe; the server calls it from one timer.

#ifndef LOCKTOPUS_SERVER_CORE_HEAP_TRIM_H_
#define LOCKTOPUS_SERVER_CORE_HEAP_TRIM_H_

#include <cstdint>

namespace locktopus::server {

class HeapTrimmer {
 public:
  // A fall from the peak that is worth a trim: 1 MiB, or an eighth of the
  // peak if more.
  static constexpr std::uint64_t kMinFall = 1 << 20;

  // Notes `lock_bytes`, the lock memory in use now; true when it is time to
  // trim (the peak is then reset to it).
  bool Observe(std::uint64_t lock_bytes);

  // Observe, and trims the heap when it says so. Returns whether it did.
  bool MaybeTrim(std::uint64_t lock_bytes);

 private:
  std::uint64_t peak_ = 0;
};

// Returns free heap pages to the system (glibc's malloc_trim; elsewhere
// nothing).
void TrimHeap();

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_HEAP_TRIM_H_
