// The HTTP session template behind http_session.h, included only by its
// two instantiations: http_session.cc (plain) and http_session_tls.cc
// (TLS), which compile in parallel.

#ifndef LOCKTOPUS_SERVER_NET_HTTP_SESSION_IMPL_H_
#define LOCKTOPUS_SERVER_NET_HTTP_SESSION_IMPL_H_

#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <memory>
#include <optional>
#include <utility>

#include "server/core/ha/commit_gate.h"
#include "server/core/handler.h"
#include "server/net/http_session.h"
#include "server/net/replication.h"
#include "server/net/ws_session.h"

namespace locktopus::server::http_session_internal {

constexpr std::size_t kMaxHeaderBytes = std::size_t{8} * 1024;
constexpr std::size_t kMaxBodyBytes = std::size_t{8} * 1024;

inline HttpRequest::Method MethodOf(const Request& request) {
  switch (request.method()) {
    case http::verb::get:
      return HttpRequest::Method::kGet;
    case http::verb::head:
      return HttpRequest::Method::kHead;
    case http::verb::options:
      return HttpRequest::Method::kOptions;
    case http::verb::delete_:
      return HttpRequest::Method::kDelete;
    default:
      return HttpRequest::Method::kOther;
  }
}

// S is Stream or TlsStream; for TlsStream, Run first does the handshake.
template <class S>
class HttpSession : public std::enable_shared_from_this<HttpSession<S>> {
 public:
  HttpSession(S stream, std::shared_ptr<ServerState> state)
      : stream_(std::move(stream)), state_(std::move(state)) {}

  void Run() {
    if constexpr (std::is_same_v<S, TlsStream>) {
      // No plain fallback: a client that does not complete a TLS 1.2+
      // handshake within the handshake timeout is closed.
      beast::get_lowest_layer(stream_).expires_after(
          std::chrono::milliseconds(state_->config.handshake_timeout_ms));
      stream_.async_handshake(
          net::ssl::stream_base::server,
          [self = this->shared_from_this()](beast::error_code ec) {
            if (ec) return;  // not TLS, an old version, a failed handshake
            self->DoRead();
          });
    } else {
      DoRead();
    }
  }

 private:
  void DoRead() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(kMaxBodyBytes);
    // A deadline for the whole request: a client that dribbles its headers
    // is cut off all the same.
    beast::get_lowest_layer(stream_).expires_after(
        std::chrono::milliseconds(state_->config.handshake_timeout_ms));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
          self->OnRead(ec);
        });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream) {
      Shutdown();
      return;
    }
    if (ec) return;  // timeout, reset, or a malformed request: just close
    Request request = parser_->release();
    const HttpRequest::Method method = MethodOf(request);
    // A force release logs its caller and a session's resume is limited
    // by it: no look-up for the others.
    const bool upgrade = beast::websocket::is_upgrade(request);
    const std::string peer = method == HttpRequest::Method::kDelete || upgrade
                                 ? Peer(beast::get_lowest_layer(stream_))
                                 : std::string();
    Handled handled =
        HandleRequest({.method = method,
                       .target = request.target(),
                       .authorization = request[http::field::authorization],
                       .websocket_upgrade = upgrade,
                       .peer = peer},
                      state_);
    if (auto* replica = std::get_if<ReplicaUpgrade>(&handled)) {
      beast::get_lowest_layer(stream_).expires_never();
      StartReplicationStream(std::move(stream_), std::move(request),
                             std::move(replica->route), state_);
      return;
    }
    if (auto* upgrade = std::get_if<Upgrade>(&handled)) {
      // the WebSocket keeps its own timeouts
      beast::get_lowest_layer(stream_).expires_never();
      StartWebSocketSession(std::move(stream_), std::move(request),
                            std::move(upgrade->route), std::move(upgrade->slot),
                            state_);
      return;
    }
    HttpResponse response = std::get<HttpResponse>(std::move(handled));
    // With replication, a force release is answered once the standbys the
    // active waits for hold it, as a client's frames are (ha/commit_gate.h):
    // an operator told the lock is gone never sees it come back after a
    // failover.
    ha::CommitGate* commit = state_->commit.get();
    if (method == HttpRequest::Method::kDelete && commit != nullptr) {
      const ha::Position position = commit->Tag();
      if (!commit->IsCommitted(position)) {
        auto waiting = std::make_shared<std::pair<Request, HttpResponse>>(
            std::move(request), std::move(response));
        commit->WhenCommitted(
            position, [self = this->shared_from_this(), waiting] {
              net::post(self->stream_.get_executor(), [self, waiting] {
                self->Reply(waiting->first, std::move(waiting->second));
              });
            });
        return;
      }
    }
    Reply(request, std::move(response));
  }

  void Reply(const Request& request, HttpResponse response) {
    auto res = std::make_shared<http::response<http::string_body>>(
        http::int_to_status(response.status), request.version());
    res->set(http::field::server, "locktopus");
    res->set(http::field::content_type, response.content_type);
    res->set(http::field::access_control_allow_origin, "*");
    res->set(http::field::access_control_allow_methods, "GET, OPTIONS");
    res->set(http::field::access_control_allow_headers, "*");
    if (!response.www_authenticate.empty()) {
      res->set(http::field::www_authenticate, response.www_authenticate);
    }
    if (!response.cache_control.empty()) {
      res->set(http::field::cache_control, response.cache_control);
    }
    res->keep_alive(request.keep_alive());
    res->body() = std::move(response.body);
    res->prepare_payload();
    if (request.method() == http::verb::head) res->body().clear();
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res](
                          beast::error_code ec, std::size_t) {
                        if (ec) return;
                        if (!res->keep_alive()) {
                          self->Shutdown();
                          return;
                        }
                        self->DoRead();
                      });
  }

  // Ends the connection after the last answer: a TCP half-close, or the TLS
  // close_notify exchange, itself bounded by the handshake timeout.
  void Shutdown() {
    if constexpr (std::is_same_v<S, TlsStream>) {
      beast::get_lowest_layer(stream_).expires_after(
          std::chrono::milliseconds(state_->config.handshake_timeout_ms));
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) {});
    } else {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  S stream_;
  const std::shared_ptr<ServerState> state_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

// The TLS instantiation's start (http_session_tls.cc).
void StartTlsSession(Socket socket, std::shared_ptr<ServerState> state,
                     net::ssl::context& tls);

}  // namespace locktopus::server::http_session_internal

#endif  // LOCKTOPUS_SERVER_NET_HTTP_SESSION_IMPL_H_
