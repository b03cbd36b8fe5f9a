// Accepts TCP connections and starts an HTTP session on each, on a strand
// of its own. A failed accept (out of file descriptors, say) would fail
// again at once: the listener backs off and logs once per episode.
//
// Thread safety: its methods and handlers run on one strand of its own;
// call Stop from any thread.

#ifndef LOCKTOPUS_SERVER_NET_LISTENER_H_
#define LOCKTOPUS_SERVER_NET_LISTENER_H_

#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>

#include "server/core/server_state.h"
#include "server/net/streams.h"

namespace locktopus::server {

class Listener {
 public:
  // `tls`, if not null, must outlive the listener and its sessions.
  Listener(net::io_context& ioc, std::shared_ptr<ServerState> state,
           net::ssl::context* tls);

  // Binds to the configured host and port and listens. Returns the port
  // (the chosen one for port 0), or 0 after logging why it cannot.
  std::uint16_t Listen();

  // Accepts connections until Stop.
  void Start();

  // Closes the listening socket: no connection is accepted after it.
  void Stop();

 private:
  void DoAccept();
  void OnAcceptError(beast::error_code ec);

  net::io_context& ioc_;
  const std::shared_ptr<ServerState> state_;
  net::ssl::context* const tls_;
  Strand strand_;
  tcp::acceptor acceptor_;
  net::steady_timer backoff_;
  std::uint64_t failed_accepts_ = 0;  // in the current episode
  bool stopped_ = false;
};

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_NET_LISTENER_H_
