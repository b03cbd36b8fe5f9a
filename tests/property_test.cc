// Stateful property test: random request/release histories run against the
// engine and the reference model, compared after every step: each step's
// number and answer, the locks it acquired each with the waiter its request
// named, every lock's state, the statistics, and the answer to a random
// Inspect query. A failure prints the shrunk history.
//
// 10,000 histories by default; RC_PARAMS overrides it for long runs, e.g.
//   RC_PARAMS="max_success=1000000" build/release/bin/property_test
//   RC_PARAMS="reproduce=..." to replay a failure RapidCheck printed.

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <ostream>
#include <vector>

#include "engine/engine.h"
#include "model/model_space.h"

namespace locktopus {
namespace {

using Model = model::ModelSpace;
using Command = rc::state::Command<Model, LockSpace>;

// Segments from an alphabet of three, depth 0 to 3, so that paths collide.
rc::Gen<Path> GenPath() {
  return rc::gen::mapcat(rc::gen::inRange(0, 4), [](int depth) {
    return rc::gen::container<Path>(
        depth, rc::gen::element<std::string>("a", "b", "c"));
  });
}

rc::Gen<Resource> GenResource() {
  return rc::gen::build<Resource>(
      rc::gen::set(&Resource::access,
                   rc::gen::element(Access::kRead, Access::kWrite)),
      rc::gen::set(&Resource::path, GenPath()));
}

// Paths as the resources', small limits so that they cut.
rc::Gen<InspectQuery> GenQuery() {
  return rc::gen::build<InspectQuery>(
      rc::gen::set(&InspectQuery::path, GenPath()),
      rc::gen::set(&InspectQuery::limit, rc::gen::inRange<std::size_t>(0, 7)),
      rc::gen::set(&InspectQuery::max_blockers,
                   rc::gen::inRange<std::size_t>(0, 5)));
}

rc::Gen<std::vector<Resource>> GenResources() {
  return rc::gen::mapcat(rc::gen::inRange(1, 5), [](int n) {
    return rc::gen::container<std::vector<Resource>>(n, GenResource());
  });
}

// After every step: the engine agrees with the model on every lock's state,
// on the statistics and on `query`'s answer, and the model's own invariants
// hold for the engine's states.
void CheckAgreement(const Model& model, const LockSpace& engine,
                    const InspectQuery& query) {
  const Stats stats = engine.GetStats();
  RC_ASSERT(stats == model.GetStats());
  RC_ASSERT(engine.Inspect(query) == model.Inspect(query));
  RC_ASSERT(engine.Oldest() == model.Oldest());
  for (LockId id = 1; id <= stats.last_id + 1; ++id) {
    RC_ASSERT(engine.State(id) == model.State(id));
  }
  const auto& live = model.Live();
  for (std::size_t i = 0; i < live.size(); ++i) {
    const LockState state = engine.State(live[i].id);
    bool blocked = false;
    for (std::size_t j = 0; j < live.size(); ++j) {
      if (j == i) continue;
      const bool conflict =
          model::Conflicts(live[i].resources, live[j].resources);
      if (j < i && conflict) blocked = true;
      if (conflict && state == LockState::kAcquired) {
        // No two conflicting locks are ever acquired together.
        RC_ASSERT(engine.State(live[j].id) != LockState::kAcquired);
      }
    }
    // An enqueued lock waits for an earlier live conflicting lock.
    RC_ASSERT(state == (blocked ? LockState::kEnqueued : LockState::kAcquired));
  }
}

// The waiter of one request. Only compared: the engine must hand it back
// with the lock's acquisition (the model says when), and never call it.
class Waiter final : public locktopus::Waiter {
 public:
  void Notify(LockId) override {
    std::fprintf(stderr, "the engine called a waiter\n");
    std::abort();
  }
};

struct RequestCommand : Command {
  std::vector<Resource> resources = *GenResources();
  std::shared_ptr<Waiter> waiter = std::make_shared<Waiter>();
  InspectQuery query = *GenQuery();  // asked after the step

  void apply(Model& model) const override { model.Request(resources, waiter); }

  void run(const Model& before, LockSpace& engine) const override {
    Model model = before;
    const RequestResult want = model.Request(resources, waiter);
    RC_ASSERT(engine.Request(resources, waiter) == want);
    CheckAgreement(model, engine, query);
  }

  void show(std::ostream& os) const override {
    os << "Request " << ToString(resources) << "; Inspect " << query;
  }
};

struct ReleaseCommand : Command {
  LockId id;
  InspectQuery query = *GenQuery();  // asked after the step

  // Mostly a live lock, enqueued or acquired; sometimes any ID at all.
  explicit ReleaseCommand(const Model& model) {
    std::vector<LockId> live;
    for (const auto& lock : model.Live()) live.push_back(lock.id);
    const LockId last = model.GetStats().last_id;
    id = live.empty() || *rc::gen::inRange(0, 10) == 0
             ? *rc::gen::inRange<LockId>(0, last + 2)
             : *rc::gen::elementOf(live);
  }

  void apply(Model& model) const override { model.Release(id); }

  void run(const Model& before, LockSpace& engine) const override {
    Model model = before;
    const ReleaseResult want = model.Release(id);
    RC_ASSERT(engine.Release(id) == want);
    CheckAgreement(model, engine, query);
  }

  void show(std::ostream& os) const override {
    os << "Release " << id << "; Inspect " << query;
  }
};

RC_GTEST_PROP(EngineMatchesModel, RandomHistories, ()) {
  Model model;
  LockSpace engine;
  rc::state::check(
      model, engine,
      rc::state::gen::execOneOfWithArgs<RequestCommand, RequestCommand,
                                        RequestCommand, ReleaseCommand,
                                        ReleaseCommand>());
}

}  // namespace
}  // namespace locktopus

int main(int argc, char** argv) {
  // RapidCheck reads RC_PARAMS on first use; give it our default unless the
  // caller chose their own.
  setenv("RC_PARAMS", "max_success=10000", /*overwrite=*/0);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
