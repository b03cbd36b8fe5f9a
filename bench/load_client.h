// What every simulated client of the load generator is: a connection on its
// own strand that either cycles through lock → acquired → release → ready (a
// load client) or only stays open (an idle client, for memory figures).
// LoadClient is what a run drives; CycleClient is the cycle itself, written
// once for both protocols: Client (bench/client.h) speaks the lock protocol
// over a WebSocket, RedisClient (bench/redis_client.h) Redis's lock recipe.
//
// Shape after the server's sessions: every handler holds shared_from_this(),
// one write is in flight at a time with a queue behind it, and a read is
// always pending so that a close from the server is noticed at once.
//
// Thread safety: Connect, Start, Close and Abort may be called from any
// thread (they post to the client's strand). samples() and state() are for
// the thread that ran the io_context, once it has stopped; state() may also
// be read at any time for a report.

#ifndef LOCKTOPUS_BENCH_LOAD_CLIENT_H_
#define LOCKTOPUS_BENCH_LOAD_CLIENT_H_

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "bench/held_resources.h"
#include "engine/thread_annotations.h"

namespace locktopus::bench {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// What the load clients lock.
struct Workload {
  int keys = 1024;                    // distinct keys k0 … k(keys-1)
  int depth = 2;                      // segments per path: ["k17","k17",…]
  int resources = 1;                  // resources per lock
  double read_ratio = 0;              // chance that a resource is a read
  std::chrono::milliseconds hold{0};  // from acquired received to release sent
  std::uint64_t seed = 1;
};

// Where to connect: an address, what it speaks and what the handshake
// asks for.
struct Target {
  enum class Protocol { kWebSocket, kRedis };
  Protocol protocol = Protocol::kWebSocket;
  tcp::endpoint endpoint;
  std::string host;    // the Host header, "127.0.0.1:9009"
  std::string target;  // path and query, "/v1?namespace=bench"
  // The query asks for a resumable session (session=new): the server's
  // first frame names it, and connecting ends once it has come.
  bool session = false;
};

// What every client of one run shares: settings, the safety check and the
// counters the report is made of.
struct Shared {
  Shared(Target t, Workload w) : target(std::move(t)), workload(w) {}

  const Target target;
  const Workload workload;
  HeldResources held;

  // The measured window; set before any client starts cycling.
  Clock::time_point window_start;
  Clock::time_point window_end;
  bool InWindow(Clock::time_point t) const {
    return t >= window_start && t < window_end;
  }

  std::atomic<bool> stopping{false};  // load clients end after this cycle
  // While set, completed cycles are also counted in counted_cycles: the
  // stretch in which the server's system calls are counted.
  std::atomic<bool> counting{false};
  std::atomic<std::uint64_t> counted_cycles{0};
  void CycleDone() {
    if (counting.load(std::memory_order_relaxed)) {
      counted_cycles.fetch_add(1, std::memory_order_relaxed);
    }
  }

  std::atomic<std::uint64_t> connect_failures{0};
  std::atomic<std::uint64_t> protocol_errors{0};    // unexpected answers
  std::atomic<std::uint64_t> unexpected_closes{0};  // the server hung up
  std::atomic<int> finished_load{0};  // load clients closed or failed
  std::atomic<int> finished_idle{0};

  // Remembers the first error in words and prints it once to stderr.
  void Error(const std::string& what) EXCLUDES(mu_);
  std::string first_error() const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::string first_error_ GUARDED_BY(mu_);
};

// Latencies of the cycles that completed inside the measured window.
struct Samples {
  std::vector<std::int64_t> acquire_ns;  // lock sent → acquired received
  std::vector<std::int64_t> cycle_ns;    // lock sent → ready received
  std::uint64_t enqueued = 0;  // of those cycles, locks enqueued first
};

class LoadClient {
 public:
  enum class Role { kLoad, kIdle };
  enum class State {
    kConnecting,
    kConnected,  // open, not cycling (idle clients stay here)
    kLocking,    // lock sent, no answer yet
    kEnqueued,
    kHolding,    // acquired; release not sent yet
    kReleasing,  // release sent
    kClosing,
    kEnded,
  };

  virtual ~LoadClient() = default;

  // Connects (and completes the handshake, if any), then calls `done` once
  // with whether it worked. A failure is counted in Shared.
  virtual void Connect(std::function<void(bool)> done) = 0;

  // A load client begins cycling; it stops by itself after the cycle in
  // which Shared::stopping is seen, with a normal close.
  virtual void Start() = 0;

  // A normal close now; for idle clients.
  virtual void Close() = 0;

  // Closes the socket without a handshake; for the stragglers at the end.
  virtual void Abort() = 0;

  virtual State state() const = 0;
  virtual int number() const = 0;
  virtual const Samples& samples() const = 0;
};

// "connecting", "enqueued", …: for reports of clients that got stuck.
std::string_view Name(LoadClient::State state);

// The load cycle, for a client whose protocol `Protocol` derives from
// CycleClient<Protocol> (and befriends it) and says how its messages are
// spelled and its connection used:
//
//   void StartConnect();  // connects, then calls Connected
//   void Connected(beast::error_code ec);  // the protocol's end of
//                                          // connecting: calls ConnectDone
//   // Draws the next lock (its resources(), and its lock_id() if the client
//   // numbers its locks) and returns its request.
//   std::string LockMessage();
//   std::string ReleaseMessage();  // the current lock's release
//   void DoWrite();                // writes writing(), then calls OnWrite
//   void SendClose();              // a normal close, once nothing is queued
//   void CloseSocket();            // drops the connection at once
//
// and reads the server's answers: OnAcquired when the current lock is
// acquired, OnReleased when its release is answered, Fail on anything
// unexpected.
template <typename Protocol>
class CycleClient : public LoadClient,
                    public std::enable_shared_from_this<Protocol> {
 public:
  void Connect(std::function<void(bool)> done) override {
    net::post(strand_, [self = this->shared_from_this(),
                        done = std::move(done)]() mutable {
      self->on_connected_ = std::move(done);
      self->protocol().StartConnect();
    });
  }

  void Start() override {
    net::post(strand_, [self = this->shared_from_this()] {
      if (self->state() == State::kConnected) self->SendLock();
    });
  }

  void Close() override {
    net::post(strand_, [self = this->shared_from_this()] {
      const State s = self->state();
      if (s == State::kConnecting || s == State::kClosing ||
          s == State::kEnded) {
        return;
      }
      self->DropHold();
      self->BeginClose();
    });
  }

  void Abort() override {
    net::post(strand_, [self = this->shared_from_this()] {
      if (self->state() == State::kEnded) return;
      self->DropHold();
      self->protocol().CloseSocket();
      self->Ended();
    });
  }

  State state() const override {
    return state_.load(std::memory_order_relaxed);
  }
  int number() const override { return number_; }
  const Samples& samples() const override { return samples_; }

 protected:
  using Strand = net::strand<net::io_context::executor_type>;

  // `salt` sets the protocol's draws apart from the other protocols'.
  CycleClient(net::io_context& ioc, Shared& shared, int number, Role role,
              std::initializer_list<std::uint32_t> salt)
      : shared_(shared),
        number_(number),
        role_(role),
        strand_(net::make_strand(ioc)),
        hold_timer_(strand_) {
    std::vector<std::uint32_t> words = {
        static_cast<std::uint32_t>(shared.workload.seed),
        static_cast<std::uint32_t>(shared.workload.seed >> 32),
        static_cast<std::uint32_t>(number)};
    words.insert(words.end(), salt.begin(), salt.end());
    std::seed_seq seed(words.begin(), words.end());
    rng_.seed(seed);
  }

  const Strand& strand() const { return strand_; }
  Shared& shared() const { return shared_; }
  std::mt19937_64& rng() { return rng_; }
  std::vector<Resource>& resources() { return resources_; }
  LockId lock_id() const { return lock_id_; }
  void set_lock_id(LockId id) { lock_id_ = id; }
  // The message being written.
  const std::string& writing() const { return outbox_.front(); }

  // The end of connecting (and of the handshake, if any): a failure is
  // counted and ends the client; either way Connect's `done` is called.
  void ConnectDone(beast::error_code ec) {
    auto done = std::move(on_connected_);
    if (ec) {
      shared_.connect_failures.fetch_add(1);
      shared_.Error("client " + std::to_string(number_) +
                    ": cannot connect: " + ec.message());
      protocol().CloseSocket();
      SetState(State::kEnded);
    } else {
      SetState(State::kConnected);
    }
    if (done) done(!ec);
  }

  // The current lock is acquired: into the shadow, and released after the
  // hold.
  void OnAcquired(Clock::time_point now) {
    was_enqueued_ = state() == State::kEnqueued;
    if (shared_.InWindow(now)) {
      samples_.acquire_ns.push_back((now - lock_sent_).count());
    }
    SetState(State::kHolding);
    shared_.held.Acquire({number_, lock_id_}, resources_);
    if (shared_.workload.hold.count() == 0) {
      // Not released in this handler: the handlers already queued run while
      // the lock is held, so that even a one-thread client with no hold time
      // can catch two clients holding at once.
      net::post(strand_, [self = this->shared_from_this()] {
        if (self->state() == State::kHolding) self->SendRelease();
      });
      return;
    }
    hold_timer_.expires_after(shared_.workload.hold);
    hold_timer_.async_wait(
        [self = this->shared_from_this()](beast::error_code ec) {
          if (!ec && self->state() == State::kHolding) self->SendRelease();
        });
  }

  // The current lock's release is answered: the cycle is done, and the next
  // one begins unless the run is stopping.
  void OnReleased(Clock::time_point now) {
    if (shared_.InWindow(now)) {
      samples_.cycle_ns.push_back((now - lock_sent_).count());
      if (was_enqueued_) ++samples_.enqueued;
    }
    shared_.CycleDone();
    if (shared_.stopping.load()) {
      BeginClose();
    } else {
      SendLock();
    }
  }

  void Send(std::string text) {
    outbox_.push_back(std::move(text));
    if (outbox_.size() == 1) protocol().DoWrite();
  }

  void OnWrite(beast::error_code ec) {
    if (state() == State::kEnded) return;
    if (ec) {
      Fail(shared_.unexpected_closes, "write: " + ec.message());
      return;
    }
    outbox_.pop_front();
    if (!outbox_.empty()) {
      protocol().DoWrite();
    } else if (close_queued_) {
      close_queued_ = false;
      protocol().SendClose();
    }
  }

  // An error ends the client: it is counted, and the connection dropped;
  // while connecting it counts as a failed connection instead.
  void Fail(std::atomic<std::uint64_t>& counter, const std::string& why) {
    shared_.Error("client " + std::to_string(number_) + ": " + why);
    if (state() == State::kConnecting) {
      protocol().Connected(
          net::error::make_error_code(net::error::connection_aborted));
      return;
    }
    counter.fetch_add(1);
    DropHold();
    protocol().CloseSocket();
    Ended();
  }

  void Ended() {
    const State was = state();
    if (was == State::kEnded) return;
    SetState(State::kEnded);
    if (was == State::kConnecting) return;  // never counted as open
    (role_ == Role::kLoad ? shared_.finished_load : shared_.finished_idle)
        .fetch_add(1);
  }

  void SetState(State s) { state_.store(s, std::memory_order_relaxed); }

 private:
  Protocol& protocol() { return static_cast<Protocol&>(*this); }

  void SendLock() {
    std::string message = protocol().LockMessage();
    SetState(State::kLocking);
    lock_sent_ = Clock::now();
    Send(std::move(message));
  }

  void SendRelease() {
    // Out of the shadow before the release can reach the server.
    shared_.held.Release({number_, lock_id_}, resources_);
    SetState(State::kReleasing);
    Send(protocol().ReleaseMessage());
  }

  // A normal close, after what is queued.
  void BeginClose() {
    SetState(State::kClosing);
    if (outbox_.empty()) {
      protocol().SendClose();
    } else {
      close_queued_ = true;
    }
  }

  // Leaves the shadow if holding, and stops the hold timer.
  void DropHold() {
    if (state() == State::kHolding) {
      shared_.held.Release({number_, lock_id_}, resources_);
    }
    hold_timer_.cancel();
  }

  Shared& shared_;
  const int number_;
  const Role role_;
  const Strand strand_;
  net::steady_timer hold_timer_;
  std::atomic<State> state_{State::kConnecting};
  bool close_queued_ = false;               // close once the outbox is empty
  std::deque<std::string> outbox_;          // front() is being written
  std::function<void(bool)> on_connected_;  // Connect's `done`
  std::mt19937_64 rng_;
  std::vector<Resource> resources_;  // the current lock's
  LockId lock_id_ = 0;               // the current lock's, in the shadow
  Clock::time_point lock_sent_;
  bool was_enqueued_ = false;  // the current lock was enqueued first
  Samples samples_;
};

}  // namespace locktopus::bench

#endif  // LOCKTOPUS_BENCH_LOAD_CLIENT_H_
