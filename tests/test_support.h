// Small helpers shared by the engine and model tests: resource builders and
// one-line drivers of the step interface.

#ifndef LOCKTOPUS_TESTS_TEST_SUPPORT_H_
#define LOCKTOPUS_TESTS_TEST_SUPPORT_H_

#include <gtest/gtest.h>

#include <ostream>
#include <vector>

#include "engine/types.h"

namespace locktopus::testing {

inline Resource R(Path path) { return {Access::kRead, std::move(path)}; }
inline Resource W(Path path) { return {Access::kWrite, std::move(path)}; }

// A request's answer without its step number.
struct Answer {
  LockId id = 0;
  bool acquired = false;
  bool operator==(const Answer&) const = default;
  friend std::ostream& operator<<(std::ostream& os, const Answer& a) {
    return os << "{id " << a.id << (a.acquired ? ", acquired}" : ", enqueued}");
  }
};

// Requests `resources`, naming nobody to tell, and returns the answer.
template <StepInterface S>
Answer Lock(S& space, std::vector<Resource> resources) {
  const RequestResult result = space.Request(resources, {});
  return {result.id, result.acquired};
}

// The IDs of `acquired`, ascending as a step returns them.
inline std::vector<LockId> Ids(const std::vector<Acquisition>& acquired) {
  std::vector<LockId> ids;
  for (const Acquisition& a : acquired) ids.push_back(a.id);
  return ids;
}

// Releases `id`, which must be live (the test fails otherwise), and returns
// the IDs the step acquired.
template <StepInterface S>
std::vector<LockId> Unlock(S& space, LockId id) {
  ReleaseResult result = space.Release(id);
  EXPECT_TRUE(result.found) << "lock " << id << " was not live";
  return Ids(result.acquired);
}

}  // namespace locktopus::testing

#endif  // LOCKTOPUS_TESTS_TEST_SUPPORT_H_
