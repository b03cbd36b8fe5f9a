#include "simulate/simulation.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/engine.h"
#include "model/model_space.h"
#include "server/core/lock_service.h"

namespace locktopus::simulate {
namespace {

// One engine step as the thread that did it saw it.
struct Entry {
  std::uint64_t step = 0;
  bool request = false;
  std::vector<Resource> resources;  // request
  LockId id = 0;                    // release; or the request's new ID
  bool acquired = false;            // request: acquired at once
  std::vector<LockId> woken;        // release: IDs the step acquired
};

// A logical client, and the waiter its enqueued locks name: told by the
// server's notification path (server::Namespace::Release), on the thread of
// the step that acquired the lock, after the space's mutex is released.
class Client final : public Waiter,
                     public std::enable_shared_from_this<Client> {
 public:
  enum class Phase { kIdle, kWaiting, kHolding };

  explicit Client(const server::Namespace& ns) : ns_(ns) {}

  void Notify(LockId id) override {
    // Reads the space as a server's waiter may: delivered under the space's
    // mutex, this deadlocks (TSan: double lock of a mutex). A notified lock
    // is acquired, or already released by its owner; never enqueued.
    if (ns_.State(id) == LockState::kEnqueued) bad_notice.store(id);
    notified.store(id);
  }

  // Touched only by the thread that runs this client.
  Phase phase = Phase::kIdle;
  LockId id = 0;
  std::vector<Resource> resources;
  int hold = 0;
  // The last lock this client was told of; may be a lock it has cancelled.
  std::atomic<LockId> notified{0};
  std::atomic<LockId> bad_notice{0};  // a notice for a lock still enqueued

 private:
  const server::Namespace& ns_;
};

// The resources clients hold right now, from the clients' point of view:
// from seeing `acquired` until just before releasing.
class Shadow {
 public:
  // Adds a held lock; returns a description of a conflicting holder, or "".
  std::string Acquire(LockId id, const std::vector<Resource>& resources) {
    std::lock_guard lock(mu_);
    for (const auto& [other, held] : held_) {
      if (model::Conflicts(resources, held)) {
        return "lock " + std::to_string(id) + " " + ToString(resources) +
               " acquired while lock " + std::to_string(other) + " " +
               ToString(held) + " is held";
      }
    }
    held_.emplace(id, resources);
    return "";
  }

  void Release(LockId id) {
    std::lock_guard lock(mu_);
    held_.erase(id);
  }

 private:
  std::mutex mu_;
  std::unordered_map<LockId, std::vector<Resource>> held_;
};

class Round {
 public:
  Round(const Config& config, std::uint64_t seed)
      : config_(config), seed_(seed) {
    for (int c = 0; c < config.clients; ++c) {
      clients_.push_back(std::make_shared<Client>(*ns_));
    }
  }

  Outcome Run() {
    std::vector<std::vector<Entry>> logs(config_.threads);
    std::vector<std::thread> threads;
    for (int t = 0; t < config_.threads; ++t) {
      threads.emplace_back([this, t, &logs] {
        Work(t, logs[t]);
        finished_.fetch_add(1);
      });
    }
    Watch();
    AwaitThreads();
    for (auto& t : threads) t.join();

    std::vector<Entry> history;
    for (auto& log : logs) {
      std::move(log.begin(), log.end(), std::back_inserter(history));
    }
    std::sort(history.begin(), history.end(),
              [](const Entry& a, const Entry& b) { return a.step < b.step; });
    Replay(history);
    const Stats left = ns_->GetStats();
    if (left.locks_pending + left.locks_acquired != 0) {
      std::ostringstream os;
      os << "locks left live after every client released: " << left;
      Fail(os.str());
    }
    for (const auto& client : clients_) {
      if (const LockId id = client->bad_notice.load(); id != 0) {
        Fail("lock " + std::to_string(id) +
             " was notified while still enqueued");
      }
    }
    // Idle and no longer held: the namespace is freed.
    ns_.reset();
    if (service_->open() != 0) {
      Fail("the idle namespace was not freed when its last hold went");
    }
    Outcome outcome;
    outcome.steps = history.size();
    outcome.ok = failures_.empty();
    for (const std::string& f : failures_) outcome.report += f + "\n";
    return outcome;
  }

 private:
  // Thread `t` runs clients t, t + threads, t + 2 * threads, ...
  void Work(int t, std::vector<Entry>& log) {
    std::mt19937_64 rng(seed_ * 1'000'003 + t);
    std::vector<Client*> mine;
    for (int c = t; c < config_.clients; c += config_.threads) {
      mine.push_back(clients_[c].get());
    }
    if (mine.empty()) return;
    while (!stop_.load(std::memory_order_relaxed) &&
           steps_.load(std::memory_order_relaxed) < config_.steps) {
      Tick(*mine[rng() % mine.size()], rng, log);
      if (rng() % 64 == 0) ns_->GetStats();  // concurrent readers too
    }
    for (Client* client : mine) {  // every client lets go
      if (client->phase != Client::Phase::kIdle) Release(*client, log);
    }
  }

  void Tick(Client& client, std::mt19937_64& rng, std::vector<Entry>& log) {
    switch (client.phase) {
      case Client::Phase::kIdle:
        Request(client, rng, log);
        break;
      case Client::Phase::kWaiting:
        if (client.notified.load() == client.id) {
          Hold(client, rng);
        } else if (int(rng() % 100) < config_.cancel_percent) {
          Release(client, log);
        }
        break;
      case Client::Phase::kHolding:
        if (client.hold-- <= 0) Release(client, log);
        break;
    }
  }

  void Request(Client& client, std::mt19937_64& rng, std::vector<Entry>& log) {
    client.resources.clear();
    const int n = 1 + rng() % config_.max_resources;
    for (int i = 0; i < n; ++i) {
      Resource r;
      r.access = rng() % 2 ? Access::kWrite : Access::kRead;
      const int depth = rng() % (config_.depth + 1);
      for (int d = 0; d < depth; ++d) {
        r.path.push_back("k" + std::to_string(rng() % config_.keys));
      }
      client.resources.push_back(std::move(r));
    }
    const RequestResult result =
        ns_->Request(client.resources, client.weak_from_this());
    Record(log, {.step = result.step,
                 .request = true,
                 .resources = client.resources,
                 .id = result.id,
                 .acquired = result.acquired});
    client.id = result.id;
    if (result.acquired) {
      Hold(client, rng);
    } else {
      client.phase = Client::Phase::kWaiting;
    }
  }

  void Hold(Client& client, std::mt19937_64& rng) {
    client.phase = Client::Phase::kHolding;
    client.hold = rng() % (config_.max_hold + 1);
    std::string conflict = shadow_.Acquire(client.id, client.resources);
    if (!conflict.empty()) Fail("mutual exclusion violated: " + conflict);
  }

  // Releases an acquired lock or cancels an enqueued one.
  void Release(Client& client, std::vector<Entry>& log) {
    if (client.phase == Client::Phase::kHolding) shadow_.Release(client.id);
    const ReleaseResult result = ns_->Release(client.id);
    std::vector<LockId> woken;
    for (const Acquisition& a : result.acquired) woken.push_back(a.id);
    Record(log, {.step = result.step, .id = client.id, .woken = woken});
    if (!result.found) {
      Fail("release of live lock " + std::to_string(client.id) +
           " not found at step " + std::to_string(result.step));
    }
    client.phase = Client::Phase::kIdle;
  }

  void Record(std::vector<Entry>& log, Entry entry) {
    log.push_back(std::move(entry));
    steps_.fetch_add(1, std::memory_order_relaxed);
  }

  // Fails the round if no step completes for stall_seconds.
  void Watch() {
    using Clock = std::chrono::steady_clock;
    std::uint64_t last = steps_.load();
    auto last_change = Clock::now();
    while (!stop_.load() && steps_.load() < config_.steps) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const std::uint64_t now = steps_.load();
      if (now != last) {
        last = now;
        last_change = Clock::now();
      } else if (Clock::now() - last_change >
                 std::chrono::duration<double>(config_.stall_seconds)) {
        Fail("no progress for " + std::to_string(config_.stall_seconds) +
             " s after " + std::to_string(now) +
             " steps: a lock waits that nothing will wake, or a step is "
             "blocked");
      }
    }
  }

  // Once stopped, every thread lets go of its clients and finishes. One that
  // does not within stall_seconds is blocked for good (a step that deadlocks,
  // such as a notice delivered under the space's mutex to a waiter that reads
  // the space): it cannot be joined, so the round reports and exits here.
  void AwaitThreads() {
    using Clock = std::chrono::steady_clock;
    const auto deadline =
        Clock::now() + std::chrono::duration<double>(config_.stall_seconds);
    while (finished_.load() < config_.threads) {
      if (Clock::now() > deadline) {
        std::lock_guard lock(failures_mu_);
        std::printf(
            "simulate: round of seed %llu FAILED: %d of %d threads are blocked "
            "for good (a deadlock)\n",
            static_cast<unsigned long long>(seed_),
            config_.threads - finished_.load(), config_.threads);
        for (const std::string& f : failures_) std::printf("%s\n", f.c_str());
        std::printf("replay with: locktopus-simulate --replay %llu\n",
                    static_cast<unsigned long long>(seed_));
        std::fflush(stdout);
        std::_Exit(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Replays the history in the space's order into the model; the first step
  // whose acquisitions differ fails the round, with the live locks before it
  // (the shortest history that shows the bug).
  void Replay(const std::vector<Entry>& history) {
    model::ModelSpace model;
    for (std::size_t i = 0; i < history.size(); ++i) {
      const Entry& e = history[i];
      if (e.step != i + 1) {
        Fail("history has a gap at step " + std::to_string(i + 1));
        return;
      }
      std::vector<LockId> want, got;
      std::string step;
      if (e.request) {
        const RequestResult r = model.Request(e.resources);
        if (r.acquired) want.push_back(r.id);
        if (e.acquired) got.push_back(e.id);
        step = "request " + ToString(e.resources) + " -> id " +
               std::to_string(e.id) +
               (r.id == e.id ? "" : " (model: " + std::to_string(r.id) + ")");
      } else {
        for (const Acquisition& a : model.Release(e.id).acquired) {
          want.push_back(a.id);
        }
        got = e.woken;
        step = "release " + std::to_string(e.id);
      }
      if (want != got || (e.request && model.Live().back().id != e.id)) {
        std::ostringstream os;
        os << "engine and model differ at step " << e.step << ": " << step
           << "\n  engine acquired [";
        for (LockId id : got) os << ' ' << id;
        os << " ], model acquired [";
        for (LockId id : want) os << ' ' << id;
        os << " ]\n  the live locks that decide it, in ID order:";
        const model::ModelSpace before = ModelBefore(history, i);
        for (const auto& lock : Deciding(before, e, want, got)) {
          os << "\n    " << lock.id << ' ' << ToString(lock.resources)
             << (lock.acquired ? " acquired" : " enqueued");
        }
        Fail(os.str());
        return;
      }
    }
  }

  // Of the live locks in `model` before step `e`: the step's own lock, the
  // locks whose acquisition is disputed, and the earlier locks that conflict
  // with a disputed one. That is all the grant rule looks at.
  static std::vector<model::ModelSpace::Lock> Deciding(
      const model::ModelSpace& model, const Entry& e,
      const std::vector<LockId>& want, const std::vector<LockId>& got) {
    std::unordered_set<LockId> disputed(want.begin(), want.end());
    disputed.insert(got.begin(), got.end());
    std::vector<model::ModelSpace::Lock> deciding;
    for (const auto& lock : model.Live()) {
      bool keep = lock.id == e.id || disputed.count(lock.id) > 0;
      for (const auto& other : model.Live()) {
        if (disputed.count(other.id) > 0 && lock.id < other.id &&
            model::Conflicts(lock.resources, other.resources)) {
          keep = true;
        }
      }
      if (keep) deciding.push_back(lock);
    }
    return deciding;
  }

  // The model after the first `n` steps of `history`.
  static model::ModelSpace ModelBefore(const std::vector<Entry>& history,
                                       std::size_t n) {
    model::ModelSpace model;
    for (std::size_t i = 0; i < n; ++i) {
      if (history[i].request) {
        model.Request(history[i].resources);
      } else {
        model.Release(history[i].id);
      }
    }
    return model;
  }

  void Fail(std::string what) {
    std::lock_guard lock(failures_mu_);
    stop_.store(true);
    failures_.push_back(std::move(what));
  }

  const Config config_;
  const std::uint64_t seed_;
  // What the server uses: one namespace of a LockService.
  const std::shared_ptr<server::LockService> service_ =
      std::make_shared<server::LockService>();
  server::NamespaceHold ns_ = service_->Open("simulate");
  std::vector<std::shared_ptr<Client>> clients_;
  Shadow shadow_;
  std::atomic<std::uint64_t> steps_{0};
  std::atomic<int> finished_{0};  // threads done with Work
  std::atomic<bool> stop_{false};
  std::mutex failures_mu_;
  std::vector<std::string> failures_;
};

}  // namespace

Outcome RunRound(const Config& config, std::uint64_t seed) {
  return Round(config, seed).Run();
}

}  // namespace locktopus::simulate
