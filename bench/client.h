// One simulated client of the load generator: a connection on its own
// strand that either cycles through lock → acquired → release → ready (a
// load client) or only stays open (an idle client, for memory figures).
// LoadClient is what a run drives; Client speaks the lock protocol over a
// WebSocket, RedisClient (bench/redis_client.h) Redis's lock recipe.
//
// Shape after the server's sessions: every handler holds shared_from_this(),
// one write is in flight at a time with a queue behind it, and a read is
// always pending so that a close from the server is noticed at once.
//
// Thread safety: Connect, Start, Close and Abort may be called from any
// thread (they post to the client's strand). samples() and state() are for
// the thread that ran the io_context, once it has stopped; state() may also
// be read at any time for a report.

#ifndef LOCKTOPUS_BENCH_CLIENT_H_
#define LOCKTOPUS_BENCH_CLIENT_H_

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
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

// A client of the lock protocol over a WebSocket.
class Client : public LoadClient, public std::enable_shared_from_this<Client> {
 public:
  Client(net::io_context& ioc, Shared& shared, int number, Role role);

  void Connect(std::function<void(bool)> done) override;
  void Start() override;
  void Close() override;  // code 1000
  void Abort() override;

  State state() const override {
    return state_.load(std::memory_order_relaxed);
  }
  int number() const override { return number_; }
  const Samples& samples() const override { return samples_; }

 private:
  void OnConnect(beast::error_code ec);
  void OnHandshake(beast::error_code ec);
  void DoRead();
  void OnRead(beast::error_code ec);
  void OnAnswer(std::string_view text);
  void OnAcquired(Clock::time_point now);
  void SendLock();
  void SendRelease();
  void Send(std::string text);
  void DoWrite();
  void OnWrite(beast::error_code ec);
  void BeginClose();
  void DoClose();
  // An error ends the client: it is counted, and the connection dropped.
  void Fail(std::atomic<std::uint64_t>& counter, const std::string& why);
  // Leaves the shadow if holding, and stops the hold timer.
  void DropHold();
  void Ended();
  void SetState(State s) { state_.store(s, std::memory_order_relaxed); }

  Shared& shared_;
  const int number_;
  const Role role_;
  beast::websocket::stream<beast::tcp_stream> ws_;
  net::steady_timer hold_timer_;
  beast::flat_buffer buffer_;
  std::deque<std::string> outbox_;  // front() is being written
  std::function<void(bool)> on_connected_;
  std::atomic<State> state_{State::kConnecting};
  bool close_queued_ = false;  // close once the outbox is empty

  std::mt19937_64 rng_;
  std::vector<Resource> resources_;  // the current lock's
  LockId lock_id_ = 0;               // the current lock's, from the server
  Clock::time_point lock_sent_;
  bool was_enqueued_ = false;  // the current lock was enqueued first
  Samples samples_;
};

// "connecting", "enqueued", …: for reports of clients that got stuck.
std::string_view Name(LoadClient::State state);

}  // namespace locktopus::bench

#endif  // LOCKTOPUS_BENCH_CLIENT_H_
