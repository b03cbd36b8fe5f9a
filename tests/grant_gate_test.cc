// The HA grant gate (server/core/ha/gate.h) on its own: its window, and the
// clock it reads.

#include <gtest/gtest.h>
#include <time.h>

#include <chrono>
#include <type_traits>

#include "server/core/ha/gate.h"

namespace locktopus::server {
namespace {

TEST(GrantGate, GrantsOnlyInsideItsWindowAndWhileOpen) {
  ha::GrantGate gate;
  const ha::Time t0 = ha::Clock::now();
  EXPECT_FALSE(gate.Granting(t0));
  gate.Enter(ha::GrantGate::Phase::kOpen, t0, t0 + std::chrono::seconds(1));
  EXPECT_TRUE(gate.Granting(t0));
  EXPECT_FALSE(gate.Granting(t0 + std::chrono::seconds(1)));
  gate.Close();
  EXPECT_FALSE(gate.Granting(t0));
}

// CLOCK_BOOTTIME counts a suspend and CLOCK_MONOTONIC does not; on a
// machine never suspended they read alike, so this checks the type and
// that the clock reads CLOCK_BOOTTIME rather than another clock (the role
// simulation's --suspend-stops-clock shows what a clock that stops does).
static_assert(std::is_same_v<ha::Clock, ha::BootClock>);

TEST(GrantGate, ItsClockReadsClockBoottime) {
  timespec boot{};
  ASSERT_EQ(clock_gettime(CLOCK_BOOTTIME, &boot), 0);
  const auto now = ha::Clock::now().time_since_epoch();
  const auto read = std::chrono::seconds(boot.tv_sec) +
                    std::chrono::nanoseconds(boot.tv_nsec);
  EXPECT_GE(now, read);
  EXPECT_LT(now - read, std::chrono::seconds(1));
}

}  // namespace
}  // namespace locktopus::server
