#include "server/net/listener.h"

#include <boost/asio/post.hpp>

#include "server/core/log.h"
#include "server/net/http_session.h"

namespace locktopus::server {
namespace {

// Pause after a failed accept: out of file descriptors, accepting again at
// once would fail again at once, and busy-loop.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

}  // namespace

Listener::Listener(net::io_context& ioc, std::shared_ptr<ServerState> state,
                   net::ssl::context* tls)
    : ioc_(ioc),
      state_(std::move(state)),
      tls_(tls),
      strand_(net::make_strand(ioc)),
      acceptor_(strand_),
      backoff_(strand_) {}

std::uint16_t Listener::Listen() {
  const Config& c = state_->config;
  beast::error_code ec;
  const auto address = net::ip::make_address(c.host, ec);
  if (ec) {
    LogError("cannot listen: bad address [" + c.host + "]: " + ec.message());
    return 0;
  }
  const tcp::endpoint endpoint(address, c.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    LogError("cannot listen on " + c.host + ":" + std::to_string(c.port) +
             ": " + ec.message());
    return 0;
  }
  const auto local = acceptor_.local_endpoint();
  LogInfo("listening on " + local.address().to_string() + ":" +
          std::to_string(local.port()));
  return local.port();
}

void Listener::Start() {
  net::post(strand_, [this] { DoAccept(); });
}

void Listener::Stop() {
  net::post(strand_, [this] {
    stopped_ = true;
    beast::error_code ignored;
    acceptor_.close(ignored);
    backoff_.cancel();
  });
}

void Listener::DoAccept() {
  acceptor_.async_accept(
      net::make_strand(ioc_), [this](beast::error_code ec, Socket s) {
        // Stopped: a connection accepted just before is dropped with it.
        if (stopped_) return;
        if (ec) {
          OnAcceptError(ec);
          return;
        }
        if (failed_accepts_ > 0) {
          LogInfo("accepting again after " + std::to_string(failed_accepts_) +
                  " failed accepts");
          failed_accepts_ = 0;
        }
        Increment(state_->metrics.tcp_connections_accepted);
        // Answers and notices are small frames that must leave at once:
        // with Nagle, an `acquired` after an `enqueued` waited for the
        // client's delayed ACK (~40 ms).
        s.set_option(tcp::no_delay(true), ec);
        StartHttpSession(std::move(s), state_, tls_);
        DoAccept();
      });
}

void Listener::OnAcceptError(beast::error_code ec) {
  if (failed_accepts_++ == 0) {
    LogWarning("accept: " + ec.message() + "; retrying every " +
               std::to_string(kAcceptBackoff.count()) +
               " ms until it succeeds");
  }
  backoff_.expires_after(kAcceptBackoff);
  backoff_.async_wait([this](beast::error_code ec) {
    if (!ec && !stopped_) DoAccept();
  });
}

}  // namespace locktopus::server
