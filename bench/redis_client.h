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
// The cycle and its measures are those of every load client
// (bench/load_client.h): lock sent → acquired (+OK) → hold → release sent →
// released (:1), on the same threads, with the same hold and the same
// samples; the key is also put through the load generator's safety check as
// the resource ["<key>"], its cycles numbered as its locks.
//
// Thread safety: as for LoadClient.

#ifndef LOCKTOPUS_BENCH_REDIS_CLIENT_H_
#define LOCKTOPUS_BENCH_REDIS_CLIENT_H_

#include <cstddef>
#include <string>
#include <vector>

#include "bench/load_client.h"
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

class RedisClient : public CycleClient<RedisClient> {
 public:
  RedisClient(net::io_context& ioc, Shared& shared, int number, Role role);

 private:
  friend class CycleClient<RedisClient>;
  using Socket = net::basic_stream_socket<tcp, Strand>;

  // CycleClient's protocol. Connecting includes loading the release script.
  void StartConnect();
  void Connected(beast::error_code ec);
  std::string LockMessage();
  std::string ReleaseMessage();
  void DoWrite();
  void SendClose();  // QUIT
  void CloseSocket();

  void OnConnect(beast::error_code ec);
  void DoRead();
  void OnRead(beast::error_code ec, std::size_t n);
  void OnReply(const resp::Reply& reply);

  const std::string key_;
  Socket socket_;
  net::steady_timer connect_timer_;
  // Bytes read; [begin_, end_) are not parsed yet.
  std::vector<char> input_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::string script_sha_;  // from SCRIPT LOAD
  std::string token_;       // the current lock's
};

}  // namespace locktopus::bench

#endif  // LOCKTOPUS_BENCH_REDIS_CLIENT_H_
