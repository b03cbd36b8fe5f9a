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

// Makes every thread allocate from glibc's main arena (M_ARENA_MAX 1), so
// that TrimHeap gives back all of the freed heap. malloc_trim returns the
// free pages inside every arena but shrinks only the main arena from its
// top; a thread's own arena keeps its free top resident up to glibc's trim
// threshold, which glibc raises after large blocks are freed (to twice the
// largest, up to 64 MiB). After a burst of large messages the I/O threads'
// arenas kept 1 to 3 MiB each. Small blocks come from each thread's cache
// (tcache) without taking the arena's lock. Call once, before the I/O
// threads start (elsewhere than glibc: nothing).
void UseOneHeapArena();

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_HEAP_TRIM_H_
