// The Beast/Asio side of the server: what the listener, the HTTP sessions
// and the WebSocket sessions share. Included only by the server's own .cc
// files that do I/O; everything else stays free of Beast.
//
// Shape (after Beast's advanced server and chat-multi examples): each
// accepted socket gets its own strand; an HttpSession reads requests and,
// on an upgrade to /v1, hands the socket to a WebSocketSession. Every
// handler holds shared_from_this(), so a session lives exactly as long as an
// operation of its is pending.
//
// With --tls-cert/--tls-key every accepted socket first completes a TLS
// handshake; both sessions are templates over the stream, instantiated for
// Stream (plain) and TlsStream only.

#ifndef LOCKTOPUS_SERVER_SESSIONS_H_
#define LOCKTOPUS_SERVER_SESSIONS_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "server/auth.h"
#include "server/connection.h"
#include "server/lock_service.h"
#include "server/metrics.h"
#include "server/options.h"
#include "server/routes.h"

namespace locktopus::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Request = http::request<http::string_body>;

// Every connection runs on its own strand. The executor type is named rather
// than type-erased (beast::tcp_stream's any_io_executor): moving and copying
// the erased executor in every handler was a fifth of the server's
// instructions per lock cycle.
using Strand = net::strand<net::io_context::executor_type>;
using Socket = net::basic_stream_socket<tcp, Strand>;
using Stream = beast::basic_stream<tcp, Strand>;
using TlsStream = beast::ssl_stream<Stream>;

// What every session of one server shares.
struct ServerState {
  explicit ServerState(Options o) : options(std::move(o)) {}

  const Options options;
  const std::shared_ptr<LockService> locks = std::make_shared<LockService>();
  std::atomic<std::size_t> connections{0};  // open WebSocket connections
  std::atomic<std::uint64_t> next_client{0};
  std::atomic<bool> draining{false};  // shutting down: refuse new clients
  Metrics metrics{options.metrics_namespace_labels};  // served on /metrics
  // Set before the first connection is accepted when --auth-token-file is
  // given; null otherwise.
  std::unique_ptr<Authenticator> auth;
  // Set before the first connection is accepted when --tls-cert and
  // --tls-key are given; null otherwise. Then every connection is TLS.
  std::unique_ptr<net::ssl::context> tls;
};

// Holds one of the --max-connections places while it lives. Owns a share of
// the state it counts in, so it can never outlive it.
class ConnectionSlot {
 public:
  // Takes a place; returns nullptr when all are taken.
  static std::unique_ptr<ConnectionSlot> Take(
      std::shared_ptr<ServerState> state);
  ~ConnectionSlot() { state_->connections.fetch_sub(1); }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

 private:
  explicit ConnectionSlot(std::shared_ptr<ServerState> state)
      : state_(std::move(state)) {}
  const std::shared_ptr<ServerState> state_;
};

// Serves HTTP requests on an accepted socket until it closes or upgrades;
// with state->tls, after a TLS handshake bounded by --handshake-timeout-ms.
void StartHttpSession(Socket socket, std::shared_ptr<ServerState> state);

// Completes the WebSocket handshake of `request` and runs the lock protocol.
void StartWebSocketSession(Stream stream, Request request,
                           LockRoute route,
                           std::unique_ptr<ConnectionSlot> slot,
                           std::shared_ptr<ServerState> state);
void StartWebSocketSession(TlsStream stream, Request request,
                           LockRoute route,
                           std::unique_ptr<ConnectionSlot> slot,
                           std::shared_ptr<ServerState> state);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_SESSIONS_H_
