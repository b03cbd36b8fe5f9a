// A load client that takes Redis locks the way redis-py's Lock and
// Redisson's RLock do, one key per client:
//
//   SET <key> <token> NX PX 30000              +OK       acquired
//   EVALSHA <release script> 1 <key> <token>   :1        released
//
// where the release script deletes the key only if it still holds this
// cycle's token (redis-py's LUA_RELEASE_SCRIPT, loaded once per connection
// with SCRIPT LOAD). The token is 32 random hex digits per cycle, like
// redis-py's uuid1().hex. What Redis does not give here: no queue (a SET
// that finds the key taken just fails: the client must poll), no push
// when a lock frees up, no FIFO order, no read locks and no hierarchy of
// paths. With one key per client the SET never finds the key taken; if it
// does, or if the release finds the key gone, that is an error.
//
// The cycle and its measures are those of Client (bench/client.h): lock
// sent → acquired (+OK) → hold → release sent → released (:1), on the same
// threads, with the same hold and the same samples; the key is also put
// through the load generator's safety check as the resource ["<key>"].
//
// Thread safety: as for LoadClient.

#ifndef LOCKTOPUS_BENCH_REDIS_CLIENT_H_
#define LOCKTOPUS_BENCH_REDIS_CLIENT_H_

#include <string>

#include "bench/client.h"
#include "bench/resp.h"

namespace locktopus::bench {

// redis-py's release script (redis/lock.py, LUA_RELEASE_SCRIPT).
inline constexpr std::string_view kRedisReleaseScript =
    "local token = redis.call('get', KEYS[1])\n"
    "if not token or token ~= ARGV[1] then\n"
    "    return 0\n"
    "end\n"
    "redis.call('del', KEYS[1])\n"
    "return 1\n";

class RedisClient : public LoadClient,
                    public std::enable_shared_from_this<RedisClient> {
 public:
  RedisClient(net::io_context& ioc, Shared& shared, int number, Role role);

  // Connects and loads the release script.
  void Connect(std::function<void(bool)> done) override;
  void Start() override;
  void Close() override;  // QUIT
  void Abort() override;

  State state() const override {
    return state_.load(std::memory_order_relaxed);
  }
  int number() const override { return number_; }
  const Samples& samples() const override { return samples_; }

 private:
  using Strand = net::strand<net::io_context::executor_type>;
  using Socket = net::basic_stream_socket<tcp, Strand>;

  void OnConnect(beast::error_code ec);
  void Connected(beast::error_code ec);
  void DoRead();
  void OnRead(beast::error_code ec, std::size_t n);
  void OnReply(const resp::Reply& reply);
  void OnAcquired(Clock::time_point now);
  void SendLock();
  void SendRelease();
  void Send(std::string command);
  void DoWrite();
  void OnWrite(beast::error_code ec);
  void Fail(std::atomic<std::uint64_t>& counter, const std::string& why);
  void DropHold();
  void Ended();
  void SetState(State s) { state_.store(s, std::memory_order_relaxed); }

  Shared& shared_;
  const int number_;
  const Role role_;
  const std::string key_;
  Socket socket_;
  net::steady_timer hold_timer_;
  net::steady_timer connect_timer_;
  // Bytes read; [begin_, end_) are not parsed yet.
  std::vector<char> input_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::deque<std::string> outbox_;  // front() is being written
  std::function<void(bool)> on_connected_;
  std::atomic<State> state_{State::kConnecting};
  std::string script_sha_;  // from SCRIPT LOAD

  std::mt19937_64 rng_;
  std::string token_;                // the current lock's
  std::vector<Resource> resources_;  // ["<key>"], for the safety check
  LockId cycle_ = 0;                 // numbers the cycles for the check
  Clock::time_point lock_sent_;
  Samples samples_;
};

}  // namespace locktopus::bench

#endif  // LOCKTOPUS_BENCH_REDIS_CLIENT_H_
