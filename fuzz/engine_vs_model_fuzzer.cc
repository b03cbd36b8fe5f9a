// engine_vs_model: the production engine (LockSpace) against the reference
// model (model::ModelSpace) on a history of steps decoded from the input.
// After every step both must give the same answer (the request's ID and
// whether it was acquired; whether a release found the lock and which locks
// it acquired, each with the waiter its request named; the step's number),
// the same State for every ID issued so far (and for 0 and the
// next ID), the same GetStats() and the same Inspect() of every live lock
// with all its blockers; and the same answer to each query the input asks.
// On the first difference it prints the steps so far and both answers, and
// aborts.
//
// Input: steps until the bytes run out, each starting with one byte `op`:
//   op % 4 == 0 or 1  request; the resources follow (fuzz::ReadResources)
//   op % 4 == 2       release the k-th live lock, ascending by ID, where k is
//                     the next byte mod the live count; when nothing is live,
//                     as op % 8 == 3
//   op % 8 == 3       release an ID that is not live: the next byte picks
//                     among 0, the next ID to be issued and every released ID
//   op % 8 == 7       inspect (no step): one byte whose low 2 bits are the
//                     path's depth, the path (fuzz::ReadPath), one byte for
//                     the limit (mod 8) and one for max_blockers (mod 6)

#include <cstdint>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "fuzz/byte_reader.h"
#include "fuzz/report.h"
#include "model/model_space.h"

namespace locktopus::fuzz {
namespace {

struct Step {
  enum Kind { kRequest, kRelease, kInspect } kind = kRequest;
  std::vector<Resource> resources;  // when kRequest
  LockId id = 0;                    // when kRelease
  InspectQuery query;               // when kInspect
};

std::ostream& operator<<(std::ostream& os, const Step& step) {
  switch (step.kind) {
    case Step::kRequest:
      return os << "request " << ToString(step.resources);
    case Step::kRelease:
      return os << "release " << step.id;
    case Step::kInspect:
      return os << "inspect " << step.query;
  }
  return os;
}

class Differential {
 public:
  void Request(std::vector<Resource> resources) {
    steps_.push_back(
        {.kind = Step::kRequest, .resources = std::move(resources)});
    const auto& r = steps_.back().resources;
    waiters_.push_back(std::make_shared<NeverCalled>());
    const WaiterRef waiter = waiters_.back();
    Expect("the request's result", engine_.Request(r, waiter),
           model_.Request(r, waiter));
    CheckEveryLock();
  }

  void Release(LockId id) {
    steps_.push_back({.kind = Step::kRelease, .id = id});
    Expect("the release's result", engine_.Release(id), model_.Release(id));
    CheckEveryLock();
  }

  // Not a step of either: changes nothing.
  void Inspect(InspectQuery query) {
    steps_.push_back({.kind = Step::kInspect, .query = std::move(query)});
    const InspectQuery& q = steps_.back().query;
    Expect("the inspection", engine_.Inspect(q), model_.Inspect(q));
  }

  // The k-th live lock (mod the live count), or 0 if none is live.
  LockId Live(std::size_t k) const {
    const auto& live = model_.Live();
    return live.empty() ? 0 : live[k % live.size()].id;
  }

  // IDs that are not live: 0, the next one, and every released one.
  std::vector<LockId> NotLive() const {
    const LockId last = model_.GetStats().last_id;
    std::vector<LockId> ids = {0, last + 1};
    for (LockId id = 1; id <= last; ++id) {
      if (model_.State(id) == LockState::kNone) ids.push_back(id);
    }
    return ids;
  }

 private:
  void CheckEveryLock() {
    const Stats stats = model_.GetStats();
    Expect("the statistics", engine_.GetStats(), stats);
    for (LockId id = 0; id <= stats.last_id + 1; ++id) {
      Expect("the state of lock " + std::to_string(id), engine_.State(id),
             model_.State(id));
    }
    constexpr std::size_t kAll = std::numeric_limits<std::size_t>::max();
    const InspectQuery everything{.limit = kAll, .max_blockers = kAll};
    Expect("every live lock", engine_.Inspect(everything),
           model_.Inspect(everything));
    Expect("the oldest locks", engine_.Oldest(), model_.Oldest());
  }

  template <class T>
  void Expect(const std::string& what, const T& engine, const T& model) {
    if (engine == model) return;
    std::ostringstream os;
    os << "the engine and the model disagree on " << what << " after step "
       << steps_.size() << ".\nSteps:\n";
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      os << "  " << i + 1 << ". " << steps_[i] << '\n';
    }
    os << "engine: " << engine << "\nmodel:  " << model;
    Fail("engine_vs_model", os.str());
  }

  // Each request names a waiter of its own; the engine must hand it back
  // with the lock's acquisition, as the model does, and never call it.
  class NeverCalled final : public Waiter {
   public:
    void Notify(LockId) override {
      Fail("engine_vs_model", "the engine called a waiter");
    }
  };

  LockSpace engine_;
  model::ModelSpace model_;
  std::vector<Step> steps_;
  std::vector<std::shared_ptr<NeverCalled>> waiters_;
};

}  // namespace
}  // namespace locktopus::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace locktopus::fuzz;
  ByteReader in(data, size);
  Differential diff;
  while (!in.empty()) {
    const std::uint8_t op = in.Byte();
    if (op % 4 <= 1) {
      diff.Request(ReadResources(in));
    } else if (op % 8 == 7) {
      locktopus::InspectQuery query;
      query.path = ReadPath(in, in.Byte() & 3);
      query.limit = in.Below(8);
      query.max_blockers = in.Below(6);
      diff.Inspect(std::move(query));
    } else if (op % 4 == 2 && diff.Live(0) != 0) {
      diff.Release(diff.Live(in.Byte()));
    } else {
      const std::vector<locktopus::LockId> ids = diff.NotLive();
      diff.Release(ids[in.Below(ids.size())]);
    }
  }
  return 0;
}
