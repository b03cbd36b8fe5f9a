#include "simulate/simulation.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/engine.h"
#include "model/model_space.h"

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

struct Client {
  enum class Phase { kIdle, kWaiting, kHolding };
  Phase phase = Phase::kIdle;
  LockId id = 0;
  std::vector<Resource> resources;
  int hold = 0;
  std::atomic<bool> notified{false};
};

// Acquisition notices, as a server would post them to the owner. A notice
// may arrive before its owner registers the ID; it waits here until then.
class Mailroom {
 public:
  void Deliver(LockId id) {
    std::lock_guard lock(mu_);
    auto it = owners_.find(id);
    if (it == owners_.end()) {
      early_.insert(id);
      return;
    }
    it->second->notified.store(true);
    owners_.erase(it);
  }

  void Register(LockId id, Client& client) {
    std::lock_guard lock(mu_);
    if (early_.erase(id) > 0) {
      client.notified.store(true);
    } else {
      owners_[id] = &client;
    }
  }

  void Forget(LockId id) {
    std::lock_guard lock(mu_);
    owners_.erase(id);
    early_.erase(id);
  }

 private:
  std::mutex mu_;
  std::unordered_map<LockId, Client*> owners_;
  std::unordered_set<LockId> early_;
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
      : config_(config), seed_(seed), clients_(config.clients) {}

  Outcome Run() {
    std::vector<std::vector<Entry>> logs(config_.threads);
    std::vector<std::thread> threads;
    for (int t = 0; t < config_.threads; ++t) {
      threads.emplace_back([this, t, &logs] { Work(t, logs[t]); });
    }
    Watch();
    for (auto& t : threads) t.join();

    std::vector<Entry> history;
    for (auto& log : logs) {
      std::move(log.begin(), log.end(), std::back_inserter(history));
    }
    std::sort(history.begin(), history.end(),
              [](const Entry& a, const Entry& b) { return a.step < b.step; });
    Replay(history);
    const Stats left = space_.GetStats();
    if (left.locks_pending + left.locks_acquired != 0) {
      std::ostringstream os;
      os << "locks left live after every client released: " << left;
      Fail(os.str());
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
      mine.push_back(&clients_[c]);
    }
    if (mine.empty()) return;
    while (!stop_.load(std::memory_order_relaxed) &&
           steps_.load(std::memory_order_relaxed) < config_.steps) {
      Tick(*mine[rng() % mine.size()], rng, log);
      if (rng() % 64 == 0) space_.GetStats();  // concurrent readers too
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
        if (client.notified.load()) {
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
    const auto stamped = space_.RequestStamped(client.resources);
    Record(log, {.step = stamped.step,
                 .request = true,
                 .resources = client.resources,
                 .id = stamped.result.id,
                 .acquired = stamped.result.acquired});
    client.id = stamped.result.id;
    client.notified.store(false);
    if (stamped.result.acquired) {
      Hold(client, rng);
    } else {
      client.phase = Client::Phase::kWaiting;
      mail_.Register(client.id, client);
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
    mail_.Forget(client.id);
    const auto stamped = space_.ReleaseStamped(client.id);
    Record(log, {.step = stamped.step,
                 .id = client.id,
                 .woken = stamped.result.acquired});
    if (!stamped.result.found) {
      Fail("release of live lock " + std::to_string(client.id) +
           " not found at step " + std::to_string(stamped.step));
    }
    for (LockId id : stamped.result.acquired) mail_.Deliver(id);
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
             " steps: a lock waits that nothing will wake");
      }
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
               std::to_string(e.id) + (r.id == e.id ? "" : " (model: " +
               std::to_string(r.id) + ")");
      } else {
        want = model.Release(e.id).acquired;
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
  LockSpace space_;
  std::vector<Client> clients_;
  Mailroom mail_;
  Shadow shadow_;
  std::atomic<std::uint64_t> steps_{0};
  std::atomic<bool> stop_{false};
  std::mutex failures_mu_;
  std::vector<std::string> failures_;
};

}  // namespace

Outcome RunRound(const Config& config, std::uint64_t seed) {
  return Round(config, seed).Run();
}

}  // namespace locktopus::simulate
