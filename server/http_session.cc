// One HTTP connection: the status page, statistics, metrics, health and
// readiness, and the upgrade to the lock protocol on /v1.

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json.hpp>

#include "server/log.h"
#include "server/sessions.h"

namespace locktopus::server {
namespace {

constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
constexpr std::size_t kMaxBodyBytes = 8 * 1024;
// Namespaces listed on the status page, the busiest first.
constexpr std::size_t kStatusNamespaces = 20;

std::string HtmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string StatsJson(const Stats& s) {
  return boost::json::serialize(boost::json::object{
      {"LastGroupID", s.last_id},
      {"GroupsPending", s.locks_pending},
      {"GroupsAcquired", s.locks_acquired},
      {"LocksPending", s.resources_pending},
      {"LocksAcquired", s.resources_acquired},
      {"PathCount", s.path_count},
  });
}

std::string StatusPage(const ServerState& state) {
  const Options& o = state.options;
  std::string page =
      "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
      "<title>Locktopus</title></head><body>\n<h1>Locktopus</h1>\n"
      "<h2>API</h2>\n<ul>\n"
      "<li>v1 (WebSocket): <code>" +
      std::string(state.tls != nullptr ? "wss" : "ws") +
      "://HOST/v1?namespace=NAME"
      "&amp;abandon-timeout-ms=60000</code></li>\n"
      "<li>statistics: <code>/stats_v1?namespace=NAME</code></li>\n"
      "<li>Prometheus metrics: <code>/metrics</code></li>\n"
      "<li>probes: <code>/healthz</code>, <code>/readyz</code></li>\n"
      "</ul>\n<h2>Parameters</h2>\n<ul>\n";
  auto param = [&page](std::string_view name, auto value) {
    page += "<li>" + std::string(name) + ": " + std::to_string(value) +
            "</li>\n";
  };
  param("default abandon timeout (ms)", o.default_abandon_timeout_ms);
  param("max abandon timeout (ms)", o.route_limits.max_abandon_timeout_ms);
  param("max connections", o.max_connections);
  param("keep-alive interval (ms)", o.keepalive_ms);
  param("handshake timeout (ms)", o.handshake_timeout_ms);
  param("max write queue (answers)", o.max_write_queue);
  param("max message bytes", o.message_limits.max_message_bytes);
  param("max resources per lock", o.message_limits.max_resources);
  param("max path depth", o.message_limits.max_path_depth);
  param("max segment bytes", o.message_limits.max_segment_bytes);
  param("max namespace bytes", o.route_limits.max_namespace_bytes);
  param("open connections", state.connections.load());
  const LockService& locks = *state.locks;
  page += "</ul>\n<h2>Namespaces</h2>\n<ul>\n";
  param("open now", locks.open());
  param("opened since the start", locks.opened());
  page += "</ul>\n<p>The " + std::to_string(kStatusNamespaces) +
          " open namespaces with the most live locks:</p>\n<ul>\n";
  for (const NamespaceSummary& ns : locks.Busiest(kStatusNamespaces)) {
    page += "<li><code>" + HtmlEscape(ns.name) + "</code>: " +
            HtmlEscape(StatsJson(ns.stats)) + "</li>\n";
  }
  return page + "</ul>\n</body></html>\n";
}

std::string MetricsText(const ServerState& state) {
  const LockService& locks = *state.locks;
  ScrapeSample sample{.open_connections = state.connections.load(),
                      .namespaces_opened = locks.opened()};
  const bool per_namespace = state.metrics.per_namespace;
  locks.ForEach([&](const Namespace& ns) {
    const Stats s = ns.GetStats();
    ++sample.namespaces_open;
    sample.locks_pending += s.locks_pending;
    sample.locks_acquired += s.locks_acquired;
    if (per_namespace) {
      sample.namespaces.push_back({.name = ns.name(),
                                   .locks_pending = s.locks_pending,
                                   .locks_acquired = s.locks_acquired,
                                   .counts = Read(ns.counters())});
    }
  });
  return RenderPrometheus(state.metrics, sample);
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
          std::chrono::milliseconds(state_->options.handshake_timeout_ms));
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
        std::chrono::milliseconds(state_->options.handshake_timeout_ms));
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec,
                                                 std::size_t) {
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
    if (!Authorized(request)) {
      Reply(request, http::status::unauthorized, "text/plain",
            "Unauthorized: a valid token is required (Authorization: Bearer "
            "TOKEN, or ?token=TOKEN)");
      return;
    }

    Route route = RouteTarget(request.target(), state_->options.route_limits);
    if (beast::websocket::is_upgrade(request)) {
      if (auto* lock = std::get_if<LockRoute>(&route)) {
        Upgrade(std::move(request), std::move(*lock));
        return;
      }
    }
    Respond(request, route);
  }

  // With --auth-token-file, every request but CORS preflights and the
  // open paths (Authenticator::Allows) must carry a listed token.
  bool Authorized(const Request& request) const {
    if (state_->auth == nullptr) return true;
    if (request.method() == http::verb::options) return true;
    return state_->auth->Allows(request[http::field::authorization],
                                request.target());
  }

  void Upgrade(Request request, LockRoute route) {
    if (state_->draining.load()) {
      Reply(request, http::status::service_unavailable, "text/plain",
            "Shutting down");
      return;
    }
    std::unique_ptr<ConnectionSlot> slot = ConnectionSlot::Take(state_);
    if (slot == nullptr) {
      Reply(request, http::status::service_unavailable, "text/plain",
            "Too many connections: " +
                OverLimit("max-connections", state_->options.max_connections));
      return;
    }
    // the WebSocket keeps its own timeouts
    beast::get_lowest_layer(stream_).expires_never();
    StartWebSocketSession(std::move(stream_), std::move(request),
                          std::move(route), std::move(slot), state_);
  }

  void Respond(const Request& request, const Route& route) {
    if (request.method() == http::verb::options) {
      Reply(request, http::status::no_content, "text/plain", "");
      return;
    }
    if (request.method() != http::verb::get &&
        request.method() != http::verb::head) {
      Reply(request, http::status::method_not_allowed, "text/plain",
            "Method not allowed");
      return;
    }
    if (auto* error = std::get_if<HttpError>(&route)) {
      Reply(request, http::int_to_status(error->status), "text/plain",
            error->body);
    } else if (std::holds_alternative<LockRoute>(route)) {
      Reply(request, http::status::upgrade_required, "text/plain",
            "WebSocket upgrade required");
    } else if (auto* stats = std::get_if<StatsRoute>(&route)) {
      const std::optional<Stats> found = state_->locks->FindStats(stats->ns);
      if (!found) {
        Reply(request, http::status::not_found, "text/plain",
              "Namespace not found");
      } else {
        Reply(request, http::status::ok, "application/json",
              StatsJson(*found));
      }
    } else if (std::holds_alternative<MetricsRoute>(route)) {
      Reply(request, http::status::ok, kPrometheusContentType,
            MetricsText(*state_));
    } else if (std::holds_alternative<HealthRoute>(route)) {
      Reply(request, http::status::ok, "text/plain", "ok");
    } else if (std::holds_alternative<ReadyRoute>(route)) {
      if (state_->draining.load()) {
        Reply(request, http::status::service_unavailable, "text/plain",
              "draining");
      } else {
        Reply(request, http::status::ok, "text/plain", "ready");
      }
    } else {
      Reply(request, http::status::ok, "text/html; charset=utf-8",
            StatusPage(*state_));
    }
  }

  void Reply(const Request& request, http::status status,
             std::string_view content_type, std::string body) {
    auto res = std::make_shared<http::response<http::string_body>>(
        status, request.version());
    res->set(http::field::server, "locktopus");
    res->set(http::field::content_type, content_type);
    res->set(http::field::access_control_allow_origin, "*");
    res->set(http::field::access_control_allow_methods, "GET, OPTIONS");
    res->set(http::field::access_control_allow_headers, "*");
    if (status == http::status::unauthorized) {
      res->set(http::field::www_authenticate, "Bearer");
    }
    res->keep_alive(request.keep_alive());
    res->body() = std::move(body);
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
          std::chrono::milliseconds(state_->options.handshake_timeout_ms));
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

}  // namespace

void StartHttpSession(Socket socket, std::shared_ptr<ServerState> state) {
  if (state->tls == nullptr) {
    std::make_shared<HttpSession<Stream>>(Stream(std::move(socket)),
                                          std::move(state))
        ->Run();
  } else {
    net::ssl::context& tls = *state->tls;
    std::make_shared<HttpSession<TlsStream>>(
        TlsStream(std::move(socket), tls), std::move(state))
        ->Run();
  }
}

}  // namespace locktopus::server
