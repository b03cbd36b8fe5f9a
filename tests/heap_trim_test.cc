// When freed lock memory is given back to the system
// (server/core/heap_trim.h).

#include "server/core/heap_trim.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace locktopus::server {
namespace {

TEST(HeapTrimmer, TrimsOnceTheLockMemoryHasFallenWellBelowItsPeak) {
  constexpr std::uint64_t kMiB = 1 << 20;
  HeapTrimmer trimmer;
  EXPECT_FALSE(trimmer.Observe(0));
  EXPECT_FALSE(trimmer.Observe(3 * kMiB));
  EXPECT_FALSE(trimmer.Observe(2 * kMiB + 1));  // fell by less than 1 MiB
  EXPECT_TRUE(trimmer.Observe(2 * kMiB));       // by 1 MiB: the peak resets
  EXPECT_FALSE(trimmer.Observe(kMiB + 1));
  EXPECT_TRUE(trimmer.Observe(kMiB));
  // Above 8 MiB, a fall of an eighth of the peak.
  EXPECT_FALSE(trimmer.Observe(64 * kMiB));
  EXPECT_FALSE(trimmer.Observe(57 * kMiB));
  EXPECT_TRUE(trimmer.Observe(56 * kMiB));
}

}  // namespace
}  // namespace locktopus::server
