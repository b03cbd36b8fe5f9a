// The namespaces of the lock service (server/core/lock_service.h): opened
// on first use and shared, freed when idle and continuing above their last
// ID, notices delivered outside the namespace mutex, the busiest listed.

#include "server/core/lock_service.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/test_support.h"

namespace locktopus::server {
namespace {

using locktopus::testing::R;
using locktopus::testing::W;

// A waiter that, when told, takes a lock in the same namespace: only
// possible if notices are delivered after the namespace's mutex is released.
class ReentrantWaiter : public Waiter {
 public:
  explicit ReentrantWaiter(Namespace& ns) : ns_(ns) {}
  void Notify(LockId) override {
    const RequestResult r = ns_.Request(std::vector{R({"elsewhere"})});
    ns_.Release(r.id);
    ++notified;
  }
  Namespace& ns_;
  int notified = 0;
};

TEST(LockService, NoticesAreDeliveredOutsideTheNamespaceMutex) {
  auto service = std::make_shared<LockService>();
  NamespaceHold ns = service->Open("test");
  auto waiter = std::make_shared<ReentrantWaiter>(*ns);
  auto run = std::async(std::launch::async, [&] {
    const RequestResult first = ns->Request(std::vector{W({"a"})});
    ns->Request(std::vector{W({"a"})}, waiter);
    ns->Release(first.id);
  });
  if (run.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    // The step deadlocked on its own mutex; the thread cannot be recovered.
    std::fprintf(stderr, "FAILED: a notice was delivered under the mutex\n");
    std::_Exit(1);
  }
  EXPECT_EQ(waiter->notified, 1);
}

TEST(LockService, OpensANamespaceOnFirstUseAndSharesIt) {
  auto service = std::make_shared<LockService>();
  EXPECT_EQ(service->FindStats("a"), std::nullopt);
  NamespaceHold a1 = service->Open("a");
  NamespaceHold a2 = service->Open("a");
  NamespaceHold b = service->Open("b");
  EXPECT_EQ(&*a1, &*a2);
  EXPECT_NE(&*a1, &*b);
  EXPECT_EQ(a1->name(), "a");
  EXPECT_EQ(service->open(), 2u);
  EXPECT_EQ(service->opened(), 2u);
  // Independent sequences.
  EXPECT_EQ(a1->Request(std::vector{W({})}).id, 1u);
  EXPECT_EQ(b->Request(std::vector{W({})}).id, 1u);
  EXPECT_EQ(a2->Request(std::vector{W({})}).id, 2u);
  EXPECT_EQ(service->FindStats("a")->last_id, 2u);
  EXPECT_EQ(service->LiveLocks(), 3u);
}

TEST(LockService, AnIdleNamespaceIsFreedAndContinuesAboveItsLastId) {
  auto service = std::make_shared<LockService>();
  {
    NamespaceHold ns = service->Open("a");
    NamespaceHold copy = ns;  // a second hold, as an abandon timer takes
    ns->Release(ns->Request(std::vector{W({"x"})}).id);
    ns->Release(ns->Request(std::vector{W({"x"})}).id);
    ns.reset();
    EXPECT_EQ(service->open(), 1u);  // still held by the copy
  }
  EXPECT_EQ(service->open(), 0u);
  EXPECT_EQ(service->FindStats("a"), std::nullopt);
  NamespaceHold again = service->Open("a");
  EXPECT_EQ(again->GetStats(), Stats{.last_id = 2});
  EXPECT_EQ(again->Request(std::vector{W({"x"})}).id, 3u);
  EXPECT_EQ(service->opened(), 2u);
  // A name never used starts at 1.
  EXPECT_EQ(service->Open("fresh")->Request(std::vector{W({})}).id, 1u);
}

TEST(LockService, ANamespaceWithALiveLockIsNeverForgotten) {
  auto service = std::make_shared<LockService>();
  service->Open("a")->Request(std::vector{W({"x"})});  // hold dropped at once
  ASSERT_EQ(service->open(), 1u);
  NamespaceHold ns = service->Open("a");
  EXPECT_EQ(ns->Request(std::vector{W({"x"})}),
            (RequestResult{.step = 2, .id = 2, .acquired = false}));
}

TEST(LockService, BusiestListsTheMostLiveLocksFirstWithinItsLimit) {
  auto service = std::make_shared<LockService>();
  std::vector<NamespaceHold> holds;
  for (const auto& [name, locks] :
       std::vector<std::pair<std::string, int>>{{"one", 1},
                                                {"three", 3},
                                                {"none", 0},
                                                {"two", 2},
                                                {"also-two", 2}}) {
    holds.push_back(service->Open(name));
    for (int i = 0; i < locks; ++i) {
      holds.back()->Request(std::vector{R({std::to_string(i)})});
    }
  }
  auto names = [&](std::size_t limit) {
    std::vector<std::string> out;
    for (const NamespaceSummary& s : service->Busiest(limit)) {
      out.push_back(s.name);
    }
    return out;
  };
  EXPECT_EQ(names(3), (std::vector<std::string>{"three", "also-two", "two"}));
  EXPECT_EQ(names(10), (std::vector<std::string>{"three", "also-two", "two",
                                                 "one", "none"}));
  EXPECT_EQ(names(0), std::vector<std::string>{});
  EXPECT_EQ(service->Busiest(1)[0].stats.locks_acquired, 3u);
}

}  // namespace
}  // namespace locktopus::server
