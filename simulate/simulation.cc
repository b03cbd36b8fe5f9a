#include "simulate/simulation.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/engine.h"
#include "model/model_space.h"
#include "server/core/connection.h"
#include "server/core/force_release.h"
#include "server/core/lock_service.h"
#include "server/core/metrics.h"
#include "server/core/session.h"
#include "wire/codec.h"

namespace locktopus::simulate {
namespace {

constexpr std::string_view kNamespace = "simulate";
// Released by the probe steps around a session's steps; IDs start at 1.
constexpr LockId kNeverLive = 0;
// A session's window and the wait before a resume, in ticks of the
// thread that keeps the timer (one tick per turn of its loop).
constexpr std::uint64_t kMaxWindow = 256;
constexpr std::uint64_t kMaxResumeDelay = 320;
// Per mille of a session client's ticks: it loses its connection (and
// resumes later from another thread), or resumes from another thread while
// its connection is still open (a takeover).
constexpr std::uint64_t kDetachPerMille = 20;
constexpr std::uint64_t kTakeOverPerMille = 40;
// Passes over every strand's messages after the round that must leave
// none: far more than any chain of notices passed on needs.
constexpr int kMaxQuietPasses = 10'000;
// One tick in this many force-releases a session client's lock.
constexpr std::uint64_t kForceReleaseOneIn = 32;

// One engine step as the thread that did it saw it.
struct Entry {
  std::uint64_t step = 0;
  bool request = false;
  std::vector<Resource> resources;  // request
  LockId id = 0;                    // release; or the request's new ID
  bool acquired = false;            // request: acquired at once
  std::vector<LockId> woken;        // release: IDs the step acquired
  // Release: `woken` is known. A session's release is made inside the
  // server, whose answer names no acquisitions.
  bool observed = true;
};

// The round's failures; the first stops it. Any thread.
class Failures {
 public:
  void Add(std::string what) {
    std::lock_guard lock(mu_);
    stop_.store(true);
    list_.push_back(std::move(what));
  }
  bool stopped() const { return stop_.load(std::memory_order_relaxed); }
  std::vector<std::string> list() const {
    std::lock_guard lock(mu_);
    return list_;
  }

 private:
  mutable std::mutex mu_;
  std::atomic<bool> stop_{false};
  std::vector<std::string> list_;
};

enum class Phase { kIdle, kWaiting, kHolding };

// A logical client, and the waiter its enqueued locks name: told by the
// server's notification path (server::Namespace::Release), on the thread of
// the step that acquired the lock, after the space's mutex is released.
class Client final : public Waiter,
                     public std::enable_shared_from_this<Client> {
 public:
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

class FakeTransport;

// A logical client on a resumable session (server::ClientSession): it
// speaks the protocol's frames through a FakeTransport, and believes what
// they tell it.
struct SessionClient {
  explicit SessionClient(int number) : index(number) {}
  const int index;
  // Touched only by the thread that runs the client now, which hands it on
  // to another thread (Strand::inbox) to resume there.
  Phase phase = Phase::kIdle;
  LockId id = 0;
  std::vector<Resource> resources;
  int hold = 0;
  enum class Pending { kNone, kLock, kRelease } pending = Pending::kNone;
  std::string token;  // its session's; empty: it has none (yet, or any more)
  std::shared_ptr<FakeTransport> transport;  // the one it reads; null: none
  LockId told_acquired = 0;  // the last lock it was told is acquired
  // A resume called this lock acquired after an operator had ended it: the
  // client waits to be told (4000), which must come while a force release
  // notice is on its way to one of its connections.
  LockId must_hear_forced = 0;
  // Force release notices posted to its connections and not yet passed to
  // the session; a session passes one on (posting it again) before it is
  // counted done.
  std::atomic<int> force_notices{0};
  // The lock the client has in the engine as it believes, enqueued or
  // acquired; 0: none. Read by force releases and window timers elsewhere.
  std::atomic<LockId> live_id{0};
  // Which transport speaks for its session: the last one sent a session
  // frame. Guarded by speaker_mu (any thread: under the session's mutex).
  std::mutex speaker_mu;
  std::uint64_t speaker = 0;
};

// What a thread's transports post to it, as a WebSocket session posts to
// its strand.
struct Message {
  enum class Kind { kAcquired, kForceReleased, kClose, kTimer, kAdopt };
  Kind kind = Kind::kAcquired;
  std::shared_ptr<FakeTransport> transport;
  LockId id = 0;
  std::uint16_t code = 0;
  std::uint64_t delay = 0;  // kTimer, kAdopt: ticks
  std::function<void()> fn;
  SessionClient* client = nullptr;  // kAdopt: to resume here
};

// One simulation thread: its clients, and the strand of its transports.
struct Strand {
  Strand(int number, std::uint64_t seed) : index(number), rng(seed) {}
  const int index;
  // Touched only by its thread (and by the round's own thread once every
  // thread is joined).
  std::mt19937_64 rng;
  std::vector<Entry> log;
  std::uint64_t tick = 0;
  std::vector<Client*> plain;
  std::vector<SessionClient*> sessions;  // attached here now
  struct Timer {
    std::uint64_t due = 0;
    std::function<void()> fn;
    SessionClient* client = nullptr;
  };
  std::vector<Timer> timers;
  struct Resume {
    std::uint64_t due = 0;
    SessionClient* client = nullptr;
  };
  std::vector<Resume> resumes;
  std::vector<std::shared_ptr<FakeTransport>> transports;  // every one made
  // From any thread.
  std::mutex mu;
  std::vector<Message> inbox;  // guarded by mu
  void Post(Message message) {
    std::lock_guard lock(mu);
    inbox.push_back(std::move(message));
  }
};

// One connection of a session client, owned by one strand: what another
// thread asks of it is queued to that strand; what the session sends is
// kept for the client to read. A frame sent through it once a newer
// transport has been sent its session frame fails the round.
class FakeTransport final : public server::SessionTransport,
                            public std::enable_shared_from_this<FakeTransport> {
 public:
  FakeTransport(Failures& failures, Strand& owner, SessionClient& client,
                std::uint64_t serial)
      : owner(owner), client(client), serial(serial), failures_(failures) {}

  // LockHolder and CloseSoon: any thread.
  void Notify(LockId id) override {
    owner.Post({.kind = Message::Kind::kAcquired,
                .transport = shared_from_this(),
                .id = id});
  }
  void ForceReleased(LockId id) override {
    client.force_notices.fetch_add(1);
    owner.Post({.kind = Message::Kind::kForceReleased,
                .transport = shared_from_this(),
                .id = id});
  }
  void CloseSoon(std::uint16_t code, std::string) override {
    owner.Post({.kind = Message::Kind::kClose,
                .transport = shared_from_this(),
                .code = code});
  }

  // ConnectionIo: under the session's mutex.
  void Send(std::string text) override { Speak(std::move(text)); }
  void SendGrant(std::string text) override { Speak(std::move(text)); }
  void Close(std::uint16_t code, std::string_view) override {
    Speak("");
    std::lock_guard lock(mu_);
    close_code_ = code;
  }
  server::ha::Time Now() override { return server::ha::Clock::now(); }
  void After(std::chrono::milliseconds delay,
             std::function<void()> fn) override {
    owner.Post({.kind = Message::Kind::kTimer,
                .transport = shared_from_this(),
                .delay = static_cast<std::uint64_t>(delay.count()),
                .fn = std::move(fn)});
  }

  std::vector<std::string> TakeFrames() {
    std::lock_guard lock(mu_);
    return std::exchange(frames_, {});
  }
  std::uint16_t close_code() {
    std::lock_guard lock(mu_);
    return close_code_;
  }

  Strand& owner;
  SessionClient& client;
  const std::uint64_t serial;
  // The owner's only.
  std::shared_ptr<server::ClientSession> session;
  bool ended = false;      // told the session it ended (OnClosed)
  bool abandoned = false;  // its client resumes elsewhere; nobody reads it

 private:
  // `text` ("" for a close) is sent through this transport.
  void Speak(std::string text) {
    {
      std::lock_guard lock(client.speaker_mu);
      if (wire::ParseSessionFrame(text)) {
        client.speaker = serial;
      } else if (client.speaker != serial) {
        failures_.Add("two sockets speak for one session: connection " +
                      std::to_string(serial) + " of session client " +
                      std::to_string(client.index) + " was sent [" +
                      (text.empty() ? std::string("a close") : text) +
                      "] after connection " + std::to_string(client.speaker) +
                      " took it over");
      }
    }
    if (text.empty()) return;
    std::lock_guard lock(mu_);
    frames_.push_back(std::move(text));
  }

  Failures& failures_;
  std::mutex mu_;
  std::vector<std::string> frames_;  // guarded by mu_
  std::uint16_t close_code_ = 0;     // guarded by mu_
};

// The resources clients hold right now, from the clients' point of view:
// from seeing `acquired` until just before releasing. A lock an operator
// or a session's window ended is forgotten: its client may still believe
// it holds it.
class Shadow {
 public:
  // Adds a held lock; returns a description of a conflicting holder, or "".
  std::string Acquire(LockId id, const std::vector<Resource>& resources) {
    std::lock_guard lock(mu_);
    if (forgotten_.contains(id)) return "";
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

  void Forget(LockId id) {
    std::lock_guard lock(mu_);
    held_.erase(id);
    forgotten_.insert(id);
  }

 private:
  std::mutex mu_;
  std::unordered_map<LockId, std::vector<Resource>> held_;
  std::unordered_set<LockId> forgotten_;
};

class Round {
 public:
  Round(const Config& config, std::uint64_t seed)
      : config_(config), seed_(seed) {
    session_config_.metrics = &metrics_;
    for (int t = 0; t < config.threads; ++t) {
      strands_.push_back(
          std::make_unique<Strand>(t, seed * 1'000'003 + std::uint64_t(t)));
    }
    // Client c runs on thread c % threads; of each thread's clients, one in
    // 100 / session_percent is a session client.
    for (int c = 0; c < config.clients; ++c) {
      Strand& strand = *strands_[c % config.threads];
      const int nth = c / config.threads;
      if (nth * config.session_percent % 100 < config.session_percent) {
        sessions_.push_back(std::make_unique<SessionClient>(c));
        strand.resumes.push_back({0, sessions_.back().get()});
      } else {
        clients_.push_back(std::make_shared<Client>(*ns_));
        strand.plain.push_back(clients_.back().get());
      }
    }
  }

  Outcome Run() {
    std::vector<std::thread> threads;
    for (int t = 0; t < config_.threads; ++t) {
      threads.emplace_back([this, t] {
        Work(*strands_[t]);
        finished_.fetch_add(1);
      });
    }
    Watch();
    AwaitThreads();
    for (auto& t : threads) t.join();
    Settle();

    std::vector<Entry> history;
    for (auto& strand : strands_) {
      std::move(strand->log.begin(), strand->log.end(),
                std::back_inserter(history));
    }
    std::sort(history.begin(), history.end(),
              [](const Entry& a, const Entry& b) { return a.step < b.step; });
    Replay(history);
    const Stats left = ns_->GetStats();
    if (left.locks_pending + left.locks_acquired != 0) {
      std::ostringstream os;
      os << "locks left live after every client released: " << left;
      failures_.Add(os.str());
    }
    for (const auto& client : clients_) {
      if (const LockId id = client->bad_notice.load(); id != 0) {
        failures_.Add("lock " + std::to_string(id) +
                      " was notified while still enqueued");
      }
    }
    // Idle and no longer held: the namespace is freed.
    ns_.reset();
    if (service_->open() != 0) {
      failures_.Add("the idle namespace was not freed when its last hold went");
    }
    Outcome outcome;
    outcome.steps = history.size();
    outcome.resumes = metrics_.sessions.resumed.load();
    outcome.takeovers = takeovers_.load();
    outcome.expiries = metrics_.sessions.expired.load();
    outcome.force_releases = forced_.size();
    const std::vector<std::string> failures = failures_.list();
    outcome.ok = failures.empty();
    for (const std::string& f : failures) outcome.report += f + "\n";
    return outcome;
  }

 private:
  void Work(Strand& s) {
    while (!failures_.stopped() &&
           steps_.load(std::memory_order_relaxed) < config_.steps) {
      ++s.tick;
      Drain(s);
      FireTimers(s, false);
      ResumeDue(s, false);
      if (s.rng() % 64 == 0) ns_->GetStats();  // concurrent readers too
      if (!sessions_.empty() && s.rng() % kForceReleaseOneIn == 0) {
        ForceRelease(s, *sessions_[s.rng() % sessions_.size()]);
      }
      const std::size_t n = s.plain.size() + s.sessions.size();
      if (n == 0) {
        std::this_thread::yield();
        continue;
      }
      const std::size_t pick = s.rng() % n;
      if (pick < s.plain.size()) {
        Tick(s, *s.plain[pick]);
      } else {
        TickSession(s, *s.sessions[pick - s.plain.size()]);
      }
    }
    for (Client* client : s.plain) {  // every client lets go
      if (client->phase != Phase::kIdle) Release(s, *client);
    }
  }

  // ---- Plain clients: server::Namespace's steps --------------------------

  void Tick(Strand& s, Client& client) {
    switch (client.phase) {
      case Phase::kIdle:
        Request(s, client);
        break;
      case Phase::kWaiting:
        if (client.notified.load() == client.id) {
          std::shared_lock shared(steps_mu_);
          Hold(s, client.id, client.resources, client.hold);
          client.phase = Phase::kHolding;
        } else if (int(s.rng() % 100) < config_.cancel_percent) {
          Release(s, client);
        }
        break;
      case Phase::kHolding:
        if (client.hold-- <= 0) Release(s, client);
        break;
    }
  }

  std::vector<Resource> RandomResources(std::mt19937_64& rng) const {
    std::vector<Resource> resources;
    const int n = 1 + rng() % config_.max_resources;
    for (int i = 0; i < n; ++i) {
      Resource r;
      r.access = rng() % 2 ? Access::kWrite : Access::kRead;
      const int depth = rng() % (config_.depth + 1);
      for (int d = 0; d < depth; ++d) {
        r.path.push_back("k" + std::to_string(rng() % config_.keys));
      }
      resources.push_back(std::move(r));
    }
    return resources;
  }

  void Request(Strand& s, Client& client) {
    client.resources = RandomResources(s.rng);
    std::shared_lock shared(steps_mu_);
    const RequestResult result =
        ns_->Request(client.resources, client.weak_from_this());
    Record(s, {.step = result.step,
               .request = true,
               .resources = client.resources,
               .id = result.id,
               .acquired = result.acquired});
    client.id = result.id;
    if (result.acquired) {
      Hold(s, client.id, client.resources, client.hold);
      client.phase = Phase::kHolding;
    } else {
      client.phase = Phase::kWaiting;
    }
  }

  // The client now believes it holds lock `id`. Under steps_mu_, shared:
  // a step that ends a lock its client may still believe held forgets it
  // with no acquisition in between.
  void Hold(Strand& s, LockId id, const std::vector<Resource>& resources,
            int& hold) {
    hold = s.rng() % (config_.max_hold + 1);
    std::string conflict = shadow_.Acquire(id, resources);
    if (!conflict.empty()) {
      failures_.Add("mutual exclusion violated: " + conflict);
    }
  }

  // Releases an acquired lock or cancels an enqueued one.
  void Release(Strand& s, Client& client) {
    if (client.phase == Phase::kHolding) shadow_.Release(client.id);
    std::shared_lock shared(steps_mu_);
    const ReleaseResult result = ns_->Release(client.id);
    std::vector<LockId> woken;
    for (const Acquisition& a : result.acquired) woken.push_back(a.id);
    Record(s, {.step = result.step, .id = client.id, .woken = woken});
    if (!result.found) {
      failures_.Add("release of live lock " + std::to_string(client.id) +
                    " not found at step " + std::to_string(result.step));
    }
    client.phase = Phase::kIdle;
  }

  void Record(Strand& s, Entry entry) {
    s.log.push_back(std::move(entry));
    steps_.fetch_add(1, std::memory_order_relaxed);
  }

  // ---- Steps made inside the server -------------------------------------
  //
  // A session's Connection, a force release and a window's end make their
  // steps inside the server, which does not say their step numbers. Such a
  // step is made alone (steps_mu_ held exclusively; every other step holds
  // it shared) between two probe steps, releases of an ID never live: the
  // steps between the probes are its.

  std::uint64_t Probe(Strand& s) {
    const ReleaseResult result = ns_->Release(kNeverLive);
    Record(s, {.step = result.step, .id = kNeverLive});
    return result.step;
  }

  // Steps made since the probe at `before` (probing again); a failure if
  // more than `most`.
  int StepsSince(Strand& s, std::uint64_t before, int most,
                 std::string_view what) {
    const int steps = static_cast<int>(Probe(s) - before - 1);
    if (steps > most) {
      failures_.Add(std::string(what) + " made " + std::to_string(steps) +
                    " steps in the engine, at most " + std::to_string(most) +
                    " expected");
    }
    return steps;
  }

  // ---- Session clients ---------------------------------------------------

  void TickSession(Strand& s, SessionClient& c) {
    if (c.must_hear_forced != 0) {
      if (c.force_notices.load() > 0) return;  // it waits to be told
      NeverTold(c);
    }
    const std::uint64_t roll = s.rng() % 1000;
    if (roll < kDetachPerMille) {
      Leave(s, c, true);
      return;
    }
    if (roll < kDetachPerMille + kTakeOverPerMille) {
      Leave(s, c, false);
      return;
    }
    switch (c.phase) {
      case Phase::kIdle:
        SendLock(s, c);
        break;
      case Phase::kWaiting:
        if (int(s.rng() % 100) < config_.cancel_percent) SendRelease(s, c);
        break;
      case Phase::kHolding:
        if (c.hold-- <= 0) SendRelease(s, c);
        break;
    }
  }

  void SendLock(Strand& s, SessionClient& c) {
    c.resources = RandomResources(s.rng);
    c.pending = SessionClient::Pending::kLock;
    std::uint64_t step = 0;
    {
      std::unique_lock alone(steps_mu_);
      step = Probe(s) + 1;
      c.transport->session->OnFrame(c.transport.get(),
                                    wire::FormatLock(c.resources));
      StepsSince(s, step - 1, 1, "a session's lock request");
    }
    ReadFrames(s, *c.transport);
    if (c.pending != SessionClient::Pending::kNone) {
      failures_.Add("session client " + std::to_string(c.index) +
                    " got no answer to its lock request");
      return;
    }
    Record(s, {.step = step,
               .request = true,
               .resources = c.resources,
               .id = c.id,
               .acquired = c.phase == Phase::kHolding});
  }

  void SendRelease(Strand& s, SessionClient& c) {
    if (c.phase == Phase::kHolding) shadow_.Release(c.id);
    const LockId id = c.id;
    c.pending = SessionClient::Pending::kRelease;
    std::uint64_t step = 0;
    {
      std::unique_lock alone(steps_mu_);
      step = Probe(s) + 1;
      c.transport->session->OnFrame(c.transport.get(), wire::FormatRelease());
      StepsSince(s, step - 1, 1, "a session's release");
    }
    Record(s, {.step = step, .id = id, .observed = false});
    ReadFrames(s, *c.transport);
    if (c.pending != SessionClient::Pending::kNone) {
      failures_.Add("session client " + std::to_string(c.index) +
                    " got no answer to its release");
    }
  }

  // An operator ends the lock session client `c` has, if any (force
  // release), from this thread.
  void ForceRelease(Strand& s, SessionClient& c) {
    const LockId id = c.live_id.load();
    if (id == 0) return;
    std::unique_lock alone(steps_mu_);
    const std::uint64_t before = Probe(s);
    const auto released = server::ForceRelease(*service_, kNamespace, id);
    const int steps = StepsSince(s, before, 1, "a force release");
    if (steps != (released ? 1 : 0)) {
      failures_.Add("a force release of lock " + std::to_string(id) +
                    (released ? " ended it" : " did not end it") + " in " +
                    std::to_string(steps) + " steps");
    }
    if (!released) return;
    Record(s, {.step = before + 1, .id = id, .observed = false});
    shadow_.Forget(id);
    std::lock_guard lock(forced_mu_);
    forced_.insert(id);
  }

  bool Forced(LockId id) {
    std::lock_guard lock(forced_mu_);
    return forced_.contains(id);
  }

  // The client leaves its connection: it ends (`end`: the session is
  // detached) or stays open (the resume takes it over); either way the
  // client resumes from another thread after a while.
  void Leave(Strand& s, SessionClient& c, bool end) {
    std::shared_ptr<FakeTransport> transport = std::move(c.transport);
    std::erase(s.sessions, &c);
    if (end) {
      End(*transport);
    } else {
      transport->abandoned = true;
      takeovers_.fetch_add(1, std::memory_order_relaxed);
    }
    int to = s.index;
    if (config_.threads > 1) {
      to = (s.index + 1 + s.rng() % (config_.threads - 1)) % config_.threads;
    }
    strands_[to]->Post({.kind = Message::Kind::kAdopt,
                        .delay = s.rng() % (kMaxResumeDelay + 1),
                        .client = &c});
  }

  // The transport's connection has ended (on its owner's strand).
  void End(FakeTransport& transport) {
    if (transport.ended) return;
    transport.ended = true;
    transport.session->OnClosed(&transport);
  }

  // Resumes client `c`'s session from a new transport of this strand, or,
  // if it has none (or it expired), opens a new one.
  void Connect(Strand& s, SessionClient& c) {
    auto transport =
        std::make_shared<FakeTransport>(failures_, s, c, ++transports_made_);
    s.transports.push_back(transport);
    const auto holder = std::make_shared<const server::HolderInfo>(
        server::HolderInfo{.client_name = "session-" + std::to_string(c.index),
                           .connection = transport->serial,
                           .peer = "192.0.2.1:1"});
    std::shared_ptr<server::ClientSession> session;
    if (!c.token.empty()) {
      session = table_->Find(c.token, kNamespace, holder->peer);
      if (session != nullptr && !session->Attach(transport, holder)) {
        session.reset();
      }
      if (session == nullptr) Expired(c);
    }
    if (session == nullptr) {
      server::ConnectionConfig config = session_config_;
      config.abandon_timeout = std::chrono::milliseconds(
          s.rng() % (kMaxWindow + 1));  // ticks of the detaching thread
      session = table_->Create(service_->Open(kNamespace), config);
      if (session == nullptr || !session->Attach(transport, holder)) {
        failures_.Add("a new session could not be opened and attached");
        return;
      }
    }
    {
      // Sent its session frame or not, it speaks for the session now.
      std::lock_guard lock(c.speaker_mu);
      c.speaker = transport->serial;
    }
    transport->session = session;
    c.transport = transport;
    s.sessions.push_back(&c);
    const std::vector<std::string> frames = transport->TakeFrames();
    const std::optional<wire::SessionFrame> frame =
        frames.empty() ? std::nullopt : wire::ParseSessionFrame(frames[0]);
    if (frames.size() != 1 || !frame) {
      failures_.Add("session client " + std::to_string(c.index) + " got " +
                    std::to_string(frames.size()) +
                    " frames on attaching, not one session frame");
      return;
    }
    if (frame->window_ms !=
        static_cast<std::uint64_t>(session->window().count())) {
      failures_.Add("a session frame names the wrong window");
    }
    if (frame->state == wire::SessionFrame::kNew) {
      if (!c.token.empty()) {
        failures_.Add("a resume of a live session opened a new one");
      }
      c.token = frame->token;
      return;
    }
    if (frame->token != c.token) {
      failures_.Add("a resumed frame names another session");
    }
    Resumed(s, c, *frame);
  }

  // The client's view after a resume must match its session's, and the
  // engine's. Under steps_mu_, shared: no force release runs meanwhile.
  void Resumed(Strand& s, SessionClient& c, const wire::SessionFrame& frame) {
    std::shared_lock shared(steps_mu_);
    c.must_hear_forced = 0;  // this resume's answer says what it must hear
    const LockId had = c.phase == Phase::kIdle ? 0 : c.id;
    const std::string who = "session client " + std::to_string(c.index) +
                            " had lock " + std::to_string(had) + " (" +
                            (c.phase == Phase::kHolding ? "acquired" : "") +
                            (c.phase == Phase::kWaiting ? "enqueued" : "") +
                            ") and resumed with lock " +
                            (frame.lock == wire::ConnState::kReady
                                 ? std::string("none")
                                 : std::string(wire::Name(frame.lock)) + " " +
                                       std::to_string(frame.id));
    switch (frame.lock) {
      case wire::ConnState::kReady:
        if (had != 0 && !Forced(had)) {
          failures_.Add(who + ", which no operator ended");
        }
        if (had != 0 && ns_->State(had) != LockState::kNone) {
          failures_.Add(who + ", which is live in the engine");
        }
        if (c.phase == Phase::kHolding) shadow_.Release(had);
        c.phase = Phase::kIdle;
        c.live_id.store(0);
        break;
      case wire::ConnState::kEnqueued:
        if (c.phase != Phase::kWaiting || frame.id != had) {
          failures_.Add(who);
        }
        break;
      case wire::ConnState::kAcquired:
        if (c.phase == Phase::kIdle || frame.id != had) {
          failures_.Add(who);
          break;
        }
        if (Forced(had)) {
          c.must_hear_forced = had;
        } else if (ns_->State(had) != LockState::kAcquired) {
          failures_.Add(who + ", which the engine has not acquired");
        }
        if (c.phase == Phase::kWaiting) {
          c.told_acquired = had;
          c.phase = Phase::kHolding;
          Hold(s, had, c.resources, c.hold);
        }
        break;
    }
  }

  void NeverTold(SessionClient& c) {
    failures_.Add("lock " + std::to_string(c.must_hear_forced) +
                  " of session client " + std::to_string(c.index) +
                  " was ended by an operator before its session's resume, "
                  "which called it acquired; no connection was told (4000)");
    c.must_hear_forced = 0;
  }

  // Client `c` found its session gone: its window passed.
  void Expired(SessionClient& c) {
    const LockId had = c.live_id.load();
    if (had != 0 && ns_->State(had) != LockState::kNone) {
      failures_.Add("the session of session client " + std::to_string(c.index) +
                    " was gone but its lock " + std::to_string(had) +
                    " is live");
    }
    if (c.phase == Phase::kHolding) shadow_.Release(c.id);
    c.phase = Phase::kIdle;
    c.live_id.store(0);
    c.token.clear();
  }

  // What `transport`'s session sent it; its client reads it unless it has
  // left it.
  void ReadFrames(Strand& s, FakeTransport& transport) {
    const std::vector<std::string> frames = transport.TakeFrames();
    if (transport.ended || transport.abandoned) return;
    SessionClient& c = transport.client;
    for (const std::string& frame : frames) Read(s, c, frame);
    const std::uint16_t code = transport.close_code();
    if (code == 0) return;
    if (code != server::kForceReleasedCloseCode) {
      failures_.Add("session client " + std::to_string(c.index) +
                    "'s connection was closed with " + std::to_string(code));
    }
    Leave(s, c, true);  // and resume, to find its session with no lock
  }

  void Read(Strand& s, SessionClient& c, const std::string& text) {
    const std::string who = "session client " + std::to_string(c.index);
    const std::optional<wire::ServerMessage> message =
        wire::ParseServerMessage(text);
    if (!message) {
      failures_.Add(who + " got an unexpected frame: " + text);
      return;
    }
    if (const auto* error = std::get_if<wire::ErrorFrame>(&*message)) {
      // Once the force release that posted it is done.
      std::shared_lock shared(steps_mu_);
      if (error->reason != server::kForceReleasedReason ||
          c.phase == Phase::kIdle || !Forced(c.id)) {
        failures_.Add(who + " got an unexpected error frame: " + text);
        return;
      }
      if (c.must_hear_forced == c.id) c.must_hear_forced = 0;
      c.phase = Phase::kIdle;
      c.live_id.store(0);
      return;
    }
    const auto& answer = std::get<wire::Answer>(*message);
    using Pending = SessionClient::Pending;
    if (answer.action == wire::Action::kRelease) {
      if (c.pending != Pending::kRelease || answer.id != c.id ||
          answer.state != wire::ConnState::kReady) {
        failures_.Add(who + " got an unexpected frame: " + text);
        return;
      }
      c.pending = Pending::kNone;
      c.phase = Phase::kIdle;
      c.live_id.store(0);
      return;
    }
    if (c.pending == Pending::kLock) {
      c.pending = Pending::kNone;
      c.id = answer.id;
      c.live_id.store(answer.id);
      c.phase = Phase::kWaiting;
    } else if (c.phase != Phase::kWaiting || answer.id != c.id ||
               answer.state != wire::ConnState::kAcquired) {
      failures_.Add(who + " got an unexpected frame: " + text);
      return;
    }
    if (answer.state != wire::ConnState::kAcquired) return;
    if (c.told_acquired == answer.id) {
      failures_.Add(who + " was told twice that lock " +
                    std::to_string(answer.id) + " is acquired");
    }
    c.told_acquired = answer.id;
    c.phase = Phase::kHolding;
    std::shared_lock shared(steps_mu_);
    Hold(s, c.id, c.resources, c.hold);
  }

  // ---- The strand: what other threads posted, timers, resumes ------------

  // Runs what was posted to this strand; whether there was anything.
  bool Drain(Strand& s) {
    std::vector<Message> inbox;
    {
      std::lock_guard lock(s.mu);
      inbox.swap(s.inbox);
    }
    for (Message& m : inbox) {
      FakeTransport* transport = m.transport.get();
      switch (m.kind) {
        case Message::Kind::kAcquired:
          transport->session->OnAcquired(transport, m.id);
          ReadFrames(s, *transport);
          break;
        case Message::Kind::kForceReleased:
          transport->session->OnForceReleased(transport, m.id);
          ReadFrames(s, *transport);
          transport->client.force_notices.fetch_sub(1);
          break;
        case Message::Kind::kClose:
          if (m.code != server::kSessionMovedCloseCode) {
            failures_.Add("a session closed a connection with " +
                          std::to_string(m.code));
          } else if (!transport->ended && !transport->abandoned) {
            failures_.Add("the connection session client " +
                          std::to_string(transport->client.index) +
                          " reads was closed as moved (4409)");
            std::erase(s.sessions, &transport->client);
            transport->client.transport.reset();
          }
          End(*transport);
          break;
        case Message::Kind::kTimer:
          s.timers.push_back(
              {s.tick + m.delay, std::move(m.fn), &transport->client});
          break;
        case Message::Kind::kAdopt:
          s.resumes.push_back({s.tick + m.delay, m.client});
          break;
      }
    }
    return !inbox.empty();
  }

  // Fires the timers due (every one, with `all`): a session's window has
  // passed, which ends its lock if no resume came first.
  bool FireTimers(Strand& s, bool all) {
    std::vector<Strand::Timer> due;
    std::erase_if(s.timers, [&](Strand::Timer& timer) {
      if (!all && timer.due > s.tick) return false;
      due.push_back(std::move(timer));
      return true;
    });
    for (Strand::Timer& timer : due) {
      std::unique_lock alone(steps_mu_);
      const std::uint64_t before = Probe(s);
      const LockId id = timer.client->live_id.load();
      timer.fn();
      if (StepsSince(s, before, 1, "a session's window") == 1) {
        if (id == 0) {
          failures_.Add(
              "the end of a session's window ended a lock its "
              "client did not have");
        }
        Record(s, {.step = before + 1, .id = id, .observed = false});
        shadow_.Forget(id);
      }
    }
    return !due.empty();
  }

  bool ResumeDue(Strand& s, bool all) {
    std::vector<Strand::Resume> due;
    std::erase_if(s.resumes, [&](const Strand::Resume& resume) {
      if (!all && resume.due > s.tick) return false;
      due.push_back(resume);
      return true;
    });
    for (const Strand::Resume& resume : due) Connect(s, *resume.client);
    return !due.empty();
  }

  // Once every thread is done, on this one: every message is delivered
  // and every resume made; then no session client may be left waiting for
  // a lock the engine has acquired (a lost notice). Then each lets go and
  // leaves, and every session's window passes: the sessions are gone.
  void Settle() {
    const auto quiet = [this] {
      int passes = 0;
      for (bool busy = true; busy;) {
        if (++passes > kMaxQuietPasses) {
          failures_.Add(
              "messages between the strands never stop: a notice "
              "passed on from connection to connection forever");
          return;
        }
        busy = false;
        for (auto& strand : strands_) {
          busy |= Drain(*strand);
          busy |= ResumeDue(*strand, true);
        }
      }
    };
    quiet();
    for (auto& strand : strands_) {
      for (SessionClient* c : strand->sessions) {
        if (c->must_hear_forced != 0) NeverTold(*c);
        if (c->phase == Phase::kWaiting &&
            ns_->State(c->id) == LockState::kAcquired) {
          failures_.Add("lock " + std::to_string(c->id) +
                        " of session client " + std::to_string(c->index) +
                        " is acquired, but its client was never told");
        }
      }
    }
    for (auto& strand : strands_) {
      for (SessionClient* c : std::vector(strand->sessions)) {
        if (c->phase != Phase::kIdle && c->transport != nullptr) {
          SendRelease(*strand, *c);
        }
        if (c->transport != nullptr) {
          End(*c->transport);
          c->transport.reset();
        }
      }
      strand->sessions.clear();
    }
    for (bool busy = true; busy;) {
      quiet();
      busy = false;
      for (auto& strand : strands_) busy |= FireTimers(*strand, true);
    }
    if (const std::size_t live = table_->live(); live != 0) {
      failures_.Add(std::to_string(live) +
                    " sessions live after every window passed");
    }
    if (metrics_.sessions.detached_now.load() != 0) {
      failures_.Add("the detached sessions gauge did not return to 0");
    }
    for (auto& strand : strands_) {
      for (const auto& transport : strand->transports) {
        if (transport->abandoned && !transport->ended) {
          failures_.Add(
              "a connection taken over by a resume was never "
              "closed (4409)");
        }
      }
      if (failures_.stopped()) {
        // A session left live may still speak through them: kept, so that
        // the round reports its failures rather than a use after free.
        new std::vector(std::move(strand->transports));
      }
      strand->transports.clear();  // with them the sessions they held
    }
  }

  // Fails the round if no step completes for stall_seconds.
  void Watch() {
    using Clock = std::chrono::steady_clock;
    std::uint64_t last = steps_.load();
    auto last_change = Clock::now();
    while (!failures_.stopped() && steps_.load() < config_.steps) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const std::uint64_t now = steps_.load();
      if (now != last) {
        last = now;
        last_change = Clock::now();
      } else if (Clock::now() - last_change >
                 std::chrono::duration<double>(config_.stall_seconds)) {
        failures_.Add(
            "no progress for " + std::to_string(config_.stall_seconds) +
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
        std::printf(
            "simulate: round of seed %llu FAILED: %d of %d threads are blocked "
            "for good (a deadlock)\n",
            static_cast<unsigned long long>(seed_),
            config_.threads - finished_.load(), config_.threads);
        for (const std::string& f : failures_.list())
          std::printf("%s\n", f.c_str());
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
        failures_.Add("history has a gap at step " + std::to_string(i + 1));
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
        got = e.observed ? e.woken : want;
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
        failures_.Add(os.str());
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

  const Config config_;
  const std::uint64_t seed_;
  // What the server uses: one namespace of a LockService, and the table of
  // its sessions.
  const std::shared_ptr<server::LockService> service_ =
      std::make_shared<server::LockService>();
  server::NamespaceHold ns_ = service_->Open(kNamespace);
  server::Metrics metrics_;
  const std::shared_ptr<server::SessionTable> table_ =
      std::make_shared<server::SessionTable>(
          std::numeric_limits<std::size_t>::max(), &metrics_);
  server::ConnectionConfig session_config_;  // but its window
  std::vector<std::unique_ptr<Strand>> strands_;
  std::vector<std::shared_ptr<Client>> clients_;
  std::vector<std::unique_ptr<SessionClient>> sessions_;
  Shadow shadow_;
  // Held shared by every step the simulation makes itself; exclusively by
  // a step made inside the server, with its probes.
  std::shared_mutex steps_mu_;
  std::mutex forced_mu_;
  std::unordered_set<LockId> forced_;  // ended by an operator; forced_mu_
  std::atomic<std::uint64_t> transports_made_{0};
  std::atomic<std::uint64_t> takeovers_{0};
  std::atomic<std::uint64_t> steps_{0};
  std::atomic<int> finished_{0};  // threads done with Work
  Failures failures_;
};

}  // namespace

Outcome RunRound(const Config& config, std::uint64_t seed) {
  return Round(config, seed).Run();
}

}  // namespace locktopus::simulate
