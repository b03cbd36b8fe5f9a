// Engine benchmarks (Google Benchmark). The names are fixed so results
// compare across versions; scripts/bench.sh runs them and reports medians.
// tests/complexity_test.cc asserts each shape's cost by operation count.

#include <benchmark/benchmark.h>

#include <deque>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace locktopus {
namespace {

Resource Res(Access access, Path path) { return {access, std::move(path)}; }

// One lock request and its release.
void Cycle(LockSpace& space, std::span<const Resource> lock) {
  const RequestResult r = space.Request(lock);
  benchmark::DoNotOptimize(r);
  benchmark::DoNotOptimize(space.Release(r.id));
}

// One write resource of depth 3 on a fresh path every iteration: each cycle
// creates and frees three nodes.
void BM_UncontendedLockRelease(benchmark::State& state) {
  LockSpace space;
  std::vector<std::vector<Resource>> locks;
  for (int i = 0; i < 4096; ++i) {
    locks.push_back({Res(Access::kWrite, {"p" + std::to_string(i), "q", "r"})});
  }
  std::size_t i = 0;
  for (auto _ : state) Cycle(space, locks[i++ % locks.size()]);
}
BENCHMARK(BM_UncontendedLockRelease);

void BM_SamePathLockRelease(benchmark::State& state) {
  LockSpace space;
  const std::vector lock = {Res(Access::kWrite, {"a", "b", "c"})};
  for (auto _ : state) Cycle(space, lock);
}
BENCHMARK(BM_SamePathLockRelease);

void BM_FourResources(benchmark::State& state) {
  LockSpace space;
  const std::vector lock = {
      Res(Access::kWrite, {"users", "42", "mail"}),
      Res(Access::kRead, {"users", "42", "profile"}),
      Res(Access::kWrite, {"orders", "7", "lines"}),
      Res(Access::kRead, {"config", "mail", "smtp"}),
  };
  for (auto _ : state) Cycle(space, lock);
}
BENCHMARK(BM_FourResources);

// The uncontended cycle while range(0) unrelated locks are held.
void BM_LockReleaseWithLiveLocks(benchmark::State& state) {
  LockSpace space;
  for (int i = 0; i < state.range(0); ++i) {
    space.Request(
        std::vector{Res(Access::kWrite, {"held", std::to_string(i % 1000),
                                         std::to_string(i)})});
  }
  const std::vector lock = {Res(Access::kWrite, {"x", "y", "z"})};
  for (auto _ : state) Cycle(space, lock);
}
BENCHMARK(BM_LockReleaseWithLiveLocks)->Arg(0)->Arg(1000)->Arg(100000);

// One reader joining and leaving while range(0) readers hold the path.
void BM_HotReaders(benchmark::State& state) {
  LockSpace space;
  const std::vector lock = {Res(Access::kRead, {"config"})};
  for (int i = 0; i < state.range(0); ++i) space.Request(lock);
  for (auto _ : state) Cycle(space, lock);
}
BENCHMARK(BM_HotReaders)->Arg(10)->Arg(10000);

// range(0) writers queued on one path; each iteration releases the oldest
// (acquiring the next) and queues one more, so the queue keeps its length:
// the cost per lock passing through a queue of that length.
void BM_QueueDrain(benchmark::State& state) {
  LockSpace space;
  const std::vector lock = {Res(Access::kWrite, {"q", "u", "e"})};
  std::deque<LockId> queue;
  for (int i = 0; i < state.range(0); ++i) {
    queue.push_back(space.Request(lock).id);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(space.Release(queue.front()));
    queue.pop_front();
    queue.push_back(space.Request(lock).id);
  }
}
BENCHMARK(BM_QueueDrain)->Arg(256)->Arg(4096);

// Two threads locking and releasing overlapping paths of one space.
LockSpace contended_space;
void BM_Contended(benchmark::State& state) {
  const std::vector lock = {
      Res(Access::kWrite, {"shared", std::to_string(state.thread_index() % 2)}),
      Res(Access::kRead, {"shared"})};
  for (auto _ : state) Cycle(contended_space, lock);
}
BENCHMARK(BM_Contended)->Threads(2);

}  // namespace
}  // namespace locktopus

BENCHMARK_MAIN();
