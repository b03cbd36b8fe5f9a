// Small helpers shared by the engine and model tests: resource builders and
// one-line drivers of the step interface.

#ifndef LOCKTOPUS_TESTS_TEST_SUPPORT_H_
#define LOCKTOPUS_TESTS_TEST_SUPPORT_H_

#include <gtest/gtest.h>

#include <vector>

#include "engine/types.h"

namespace locktopus::testing {

inline Resource R(Path path) { return {Access::kRead, std::move(path)}; }
inline Resource W(Path path) { return {Access::kWrite, std::move(path)}; }

// Requests `resources` and returns the result.
template <StepInterface S>
RequestResult Lock(S& space, std::vector<Resource> resources) {
  return space.Request(resources);
}

// Releases `id`, which must be live (the test fails otherwise), and returns
// the IDs the step acquired.
template <StepInterface S>
std::vector<LockId> Unlock(S& space, LockId id) {
  ReleaseResult result = space.Release(id);
  EXPECT_TRUE(result.found) << "lock " << id << " was not live";
  return result.acquired;
}

}  // namespace locktopus::testing

#endif  // LOCKTOPUS_TESTS_TEST_SUPPORT_H_
