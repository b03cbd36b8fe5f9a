// A load client of the lock protocol over a WebSocket: the cycle of
// bench/load_client.h, spelled as lock and release frames through the wire
// codec, on random paths drawn from the workload. With a target that asks
// for a session (Target::session), connecting also reads the server's first
// frame, the new session's; the cycle is the same.
//
// Thread safety: as for LoadClient.

#ifndef LOCKTOPUS_BENCH_CLIENT_H_
#define LOCKTOPUS_BENCH_CLIENT_H_

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <string>
#include <string_view>

#include "bench/load_client.h"

namespace locktopus::bench {

class Client : public CycleClient<Client> {
 public:
  Client(net::io_context& ioc, Shared& shared, int number, Role role);

 private:
  friend class CycleClient<Client>;

  // CycleClient's protocol.
  void StartConnect();
  void Connected(beast::error_code ec);
  std::string LockMessage();
  std::string ReleaseMessage();
  void DoWrite();
  void SendClose();  // code 1000
  void CloseSocket();

  void OnConnect(beast::error_code ec);
  void DoRead();
  void OnRead(beast::error_code ec);
  void OnAnswer(std::string_view text);
  void OnSessionFrame(std::string_view text);

  beast::websocket::stream<beast::tcp_stream> ws_;
  net::steady_timer session_timer_;  // for the session frame
  beast::flat_buffer buffer_;
};

}  // namespace locktopus::bench

#endif  // LOCKTOPUS_BENCH_CLIENT_H_
