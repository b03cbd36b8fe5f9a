// What the engine's lock state costs in memory: bytes per trie node, per
// entry and per lock, as the heap sees them (glibc's mallinfo2: the bytes of
// every chunk in use, headers and rounding included). scripts/bench.sh runs
// it; `--json` prints one JSON line instead of the table.
//
// Each figure is a difference of heap sizes over many nodes, entries or
// locks, the growth of the space's tables included:
//   lock + entry   K locks of one resource on the empty path (no node);
//   entry          the same K locks with 16 resources each, over the above;
//   node           one lock of 1,024 distinct write paths of depth 64 (the
//                  attack of the security notes), less its lock and entries.
// Single-threaded: everything comes from glibc's main arena.

#include <malloc.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace locktopus {
namespace {

std::int64_t HeapBytes() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<std::int64_t>(info.uordblks + info.hblkhd);
}

// Heap bytes that `fill` adds to a space while its results stay live.
template <class Fill>
double Measure(Fill fill) {
  LockSpace space;
  const std::int64_t before = HeapBytes();
  fill(space);
  return static_cast<double>(HeapBytes() - before);
}

constexpr int kLocks = 100'000;
constexpr int kWideResources = 16;
constexpr int kPaths = 1024;
constexpr int kDepth = 64;

// kLocks locks of `resources` resources each, all read locks of the root.
double Locks(int resources) {
  const std::vector<Resource> lock(resources, Resource{Access::kRead, {}});
  return Measure([&](LockSpace& space) {
    for (int i = 0; i < kLocks; ++i) space.Request(lock);
  });
}

// The attack's lock: kPaths distinct write paths of depth kDepth.
double AttackLock() {
  std::vector<Resource> lock;
  for (int p = 0; p < kPaths; ++p) {
    Path path;
    for (int d = 0; d < kDepth; ++d) {
      path.push_back("s" + std::to_string(p) + "_" + std::to_string(d));
    }
    lock.push_back({Access::kWrite, std::move(path)});
  }
  return Measure([&](LockSpace& space) { space.Request(lock); });
}

}  // namespace
}  // namespace locktopus

int main(int argc, char** argv) {
  using namespace locktopus;
  const bool json = argc > 1 && std::strcmp(argv[1], "--json") == 0;
  const double one = Locks(1) / kLocks;                // lock + 1 entry
  const double wide = Locks(kWideResources) / kLocks;  // lock + 16 entries
  const double entry = (wide - one) / (kWideResources - 1);
  const double lock = one - entry;
  const double attack = AttackLock();
  const double nodes = double{kPaths} * kDepth;
  const double entries = double{kPaths} * (kDepth + 1);
  const double node = (attack - lock - entries * entry) / nodes;
  if (json) {
    std::printf(
        "{\"node_bytes\":%.1f,\"entry_bytes\":%.1f,\"lock_bytes\":%.1f,"
        "\"attack_lock_bytes\":%.0f}\n",
        node, entry, lock, attack);
    return 0;
  }
  std::printf("bytes per trie node  %8.1f\n", node);
  std::printf("bytes per entry      %8.1f\n", entry);
  std::printf("bytes per lock       %8.1f  (without its entries)\n", lock);
  std::printf("one lock of %d write paths of depth %d: %.1f MiB\n", kPaths,
              kDepth, attack / (1024 * 1024));
  return 0;
}
