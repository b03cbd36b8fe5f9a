#include "client/connection.h"

#include <fcntl.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <charconv>
#include <deque>
#include <string_view>
#include <type_traits>
#include <variant>

#include "client/tls.h"
#include "locktopus/errors.h"
#include "wire/codec.h"

namespace locktopus::client::detail {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {
// The server's answers are a few dozen bytes; its error frames are short.
constexpr std::size_t kMaxFrameBytes = std::size_t{64} * 1024;

std::string Milliseconds(Connection::Clock::duration d) {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}
}  // namespace

using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

struct Connection::Impl {
  net::io_context ioc;
  // Declared before `ws`, which refers to it: a TLS stream's context.
  std::unique_ptr<net::ssl::context> tls;
  std::variant<PlainWs, TlsWs> ws;
  beast::flat_buffer buffer;
  std::deque<std::string> inbox;
  bool reading = false;
  std::exception_ptr failure;
  int close_code = 0;  // the server's, once it closed the connection

  SilenceRule rule;
  // rule.limit's count, for silence_limit() on any thread.
  std::atomic<std::chrono::milliseconds::rep> limit_ms;
  // The last proof of life, as Clock's count: atomic, for last_heard().
  std::atomic<Clock::rep> heard{0};
  Clock::time_point last_ping;  // when the last ping left
  bool pinging = false;         // a ping is being written

  explicit Impl(const ServerAddress& address)
      : tls(address.tls ? MakeTlsContext(address) : nullptr),
        ws(MakeStream(ioc, tls.get())),
        rule(SilenceRuleFor(address)),
        limit_ms(rule.limit.count()) {}

  static std::variant<PlainWs, TlsWs> MakeStream(net::io_context& ioc,
                                                 net::ssl::context* tls) {
    if (tls == nullptr) {
      return std::variant<PlainWs, TlsWs>(std::in_place_type<PlainWs>, ioc);
    }
    return std::variant<PlainWs, TlsWs>(std::in_place_type<TlsWs>, ioc, *tls);
  }

  // Calls `f` with the WebSocket stream, whichever it is.
  template <class F>
  decltype(auto) With(F&& f) {
    return std::visit(std::forward<F>(f), ws);
  }
  beast::tcp_stream& Tcp() {
    return With([](auto& s) -> beast::tcp_stream& {
      return beast::get_lowest_layer(s);
    });
  }

  // Runs one handler, or until `deadline`; false on timeout.
  bool RunOne(std::optional<Clock::time_point> deadline) {
    if (ioc.stopped()) ioc.restart();
    if (!deadline) return ioc.run_one() > 0;
    if (Clock::now() >= *deadline) return ioc.poll_one() > 0;
    return ioc.run_one_until(*deadline) > 0;
  }

  Clock::time_point LastHeard() const {
    return Clock::time_point(Clock::duration(heard.load()));
  }
  // A proof of life from time `when`. (Written under the Client's mutex
  // only: a plain store does.)
  void Heard(Clock::time_point when) {
    if (when > LastHeard()) heard.store(when.time_since_epoch().count());
  }

  // A pong. One of ours holds the time its ping left (see Ping): the server
  // was there after that. The time it is read at proves less, since the
  // pong may have waited to be read. Any other payload is no proof.
  void Ponged(std::string_view payload) {
    Clock::rep sent = 0;
    const char* end = payload.data() + payload.size();
    const auto [at, error] = std::from_chars(payload.data(), end, sent);
    if (error != std::errc() || at != end) return;
    const Clock::time_point when{Clock::duration(sent)};
    if (when <= Clock::now()) Heard(when);
  }

  void Ping(Clock::time_point now) {
    pinging = true;
    last_ping = now;
    const std::string sent = std::to_string(now.time_since_epoch().count());
    // A ping that cannot be written leaves the failure to the pending read,
    // which says why the connection ended (a close code, say).
    With([&](auto& s) {
      s.async_ping(websocket::ping_data(sent.data(), sent.size()),
                   [this](beast::error_code) { pinging = false; });
    });
  }

  // The silence rule, now: fails the connection once its last proof of
  // life is older than the limit, or only suspect (a session's, which the
  // Client then resumes on a new connection), else pings if a ping is due.
  void Watch() {
    if (failure) return;
    const auto now = Clock::now();
    const auto silence = now - LastHeard();
    if (silence > rule.limit) {
      failure = std::make_exception_ptr(ConnectionError(
          "the server has been silent for " + Milliseconds(silence) +
          " ms, more than the " + Milliseconds(rule.limit) +
          " ms this connection allows: counted lost, and its lock with it"));
      return;
    }
    if (silence > rule.suspect) {
      failure = std::make_exception_ptr(ConnectionError(
          "the server has been silent for " + Milliseconds(silence) +
          " ms on this connection, more than the " +
          Milliseconds(rule.suspect) +
          " ms after which a session gives it up for a new one"));
      return;
    }
    if (!pinging && now - last_ping >= rule.ping_every) Ping(now);
  }

  // When Watch() next has something to do.
  Clock::time_point NextWatch() const {
    // Far, not max(): a wait until max() can overflow into no wait at all.
    if (failure) return Clock::now() + std::chrono::hours(24);
    Clock::time_point next = LastHeard() + std::min(rule.suspect, rule.limit) +
                             std::chrono::milliseconds(1);
    if (!pinging) next = std::min(next, last_ping + rule.ping_every);
    return next;
  }

  // Runs one handler that is ready, without waiting; false if none was.
  bool RunReady() {
    if (ioc.stopped()) ioc.restart();
    return ioc.poll_one() > 0;
  }

  void StartRead() {
    if (reading || failure) return;
    reading = true;
    With([this](auto& s) {
      s.async_read(buffer, [this, &s](beast::error_code ec, std::size_t) {
        reading = false;
        if (ec == websocket::error::closed) {
          const auto& reason = s.reason();
          close_code = reason.code;
          failure = std::make_exception_ptr(
              ConnectionError("server closed the connection (code " +
                              std::to_string(reason.code) +
                              (reason.reason.empty()
                                   ? ""
                                   : ": " + std::string(reason.reason.data(),
                                                        reason.reason.size())) +
                              ")"));
        } else if (ec) {
          failure = std::make_exception_ptr(
              ConnectionError("connection lost: " + ec.message()));
        } else {
          inbox.push_back(beast::buffers_to_string(buffer.data()));
          buffer.consume(buffer.size());
          StartRead();
        }
      });
    });
  }
};

namespace {

// Sends the token with the upgrade request, where the server looks first.
void AddToken(auto& ws, const std::string& token) {
  if (token.empty()) return;
  ws.set_option(websocket::stream_base::decorator(
      [bearer = "Bearer " + token](websocket::request_type& request) {
        request.set(http::field::authorization, bearer);
      }));
}

// A plain request that a TLS-only server closes unanswered fails so.
bool LooksLikeATlsServer(const beast::error_code& error) {
  return error == http::error::end_of_stream ||
         error == net::error::connection_reset || error == net::error::eof;
}

}  // namespace

Connection::Connection(const ServerAddress& address,
                       std::string_view resume_token)
    : impl_(std::make_unique<Impl>(address)) {
  Impl& s = *impl_;
  const std::string where = address.host + ":" + std::to_string(address.port);
  beast::error_code error;
  std::string tls_failure;  // set when the TLS handshake failed
  websocket::response_type response;
  bool done = false;

  const auto upgrade = [&](auto& ws) {
    AddToken(ws, address.token);
    ws.async_handshake(response, where, LockTarget(address, resume_token),
                       [&](beast::error_code ec) {
                         error = ec;
                         done = true;
                       });
  };
  // After TCP: the TLS handshake if any, then the upgrade.
  const auto connected = [&] {
    s.With([&](auto& ws) {
      if constexpr (std::is_same_v<std::decay_t<decltype(ws)>, TlsWs>) {
        SSL* ssl = ws.next_layer().native_handle();
        PrepareTls(ssl, address.host);
        ws.next_layer().async_handshake(
            net::ssl::stream_base::client, [&, ssl](beast::error_code ec) {
              if (ec) {
                tls_failure = DescribeTlsFailure(ssl, ec, address.host);
                error = ec;
                done = true;
                return;
              }
              upgrade(ws);
            });
      } else {
        upgrade(ws);
      }
    });
  };

  tcp::resolver resolver(s.ioc);
  auto& stream = s.Tcp();
  stream.expires_after(address.connect_timeout);
  resolver.async_resolve(
      address.host, std::to_string(address.port),
      [&](beast::error_code ec, const tcp::resolver::results_type& results) {
        if (ec) {
          error = ec;
          done = true;
          return;
        }
        stream.async_connect(
            results, [&](beast::error_code ec2, const tcp::endpoint&) {
              if (ec2) {
                error = ec2;
                done = true;
                return;
              }
              stream.socket().set_option(tcp::no_delay(true), ec2);
              // A command run under the lock (locktopusctl) must not
              // inherit the socket: a descendant holding it open would
              // keep the connection, and so the lock, past our own end.
              ::fcntl(stream.socket().native_handle(), F_SETFD, FD_CLOEXEC);
              connected();
            });
      });
  s.ioc.run();
  if (!done || error) {
    if (error == websocket::error::upgrade_declined && response.result_int()) {
      throw HttpError(static_cast<int>(response.result_int()), response.body());
    }
    std::string why = tls_failure.empty() ? error.message() : tls_failure;
    if (!address.tls && LooksLikeATlsServer(error)) {
      why += " (a server run with --tls-cert answers only TLS: use wss://)";
    }
    throw ConnectionError("cannot connect to " + where + ": " + why);
  }
  stream.expires_never();
  s.With([&s](auto& ws) {
    ws.read_message_max(kMaxFrameBytes);
    ws.text(true);
    ws.control_callback(
        [&s](websocket::frame_type kind, beast::string_view payload) {
          if (kind == websocket::frame_type::pong) {
            s.Ponged(std::string_view(payload.data(), payload.size()));
          }
        });
  });
  // The handshake's answer is the first proof of life; pings follow.
  s.last_ping = Clock::now();
  s.Heard(s.last_ping);
}

Connection::~Connection() {
  Impl& s = *impl_;
  if (s.failure) return;
  // A normal close, waiting a moment for the server's close frame.
  bool closed = false;
  const auto deadline = Clock::now() + std::chrono::seconds(1);
  try {
    s.With([&](auto& ws) {
      ws.async_close(websocket::close_code::normal,
                     [&](beast::error_code) { closed = true; });
    });
    while (!closed && s.RunOne(deadline)) {
    }
  } catch (...) {  // closing is best effort; the socket closes regardless
  }
}

void Connection::Poll() {
  Impl& s = *impl_;
  if (s.failure) return;
  try {
    s.StartRead();
    if (s.ioc.stopped()) s.ioc.restart();
    s.ioc.poll();  // what came first, pongs included
    s.Watch();
    s.ioc.poll();  // the ping, if one went out
  } catch (...) {
    Fail(std::current_exception());
  }
}

Connection::Clock::time_point Connection::NextPoll() const {
  return impl_->NextWatch();
}

Connection::Clock::time_point Connection::last_heard() const {
  return impl_->LastHeard();
}

std::chrono::milliseconds Connection::silence_limit() const {
  return std::chrono::milliseconds(impl_->limit_ms.load());
}

void Connection::SetRule(const SilenceRule& rule) {
  impl_->rule = rule;
  impl_->limit_ms.store(rule.limit.count());
}

void Connection::Fail(std::exception_ptr error) {
  if (!impl_->failure) impl_->failure = std::move(error);
}

std::exception_ptr Connection::failure() const { return impl_->failure; }

int Connection::close_code() const { return impl_->close_code; }

void Connection::Send(const std::string& text) {
  Impl& s = *impl_;
  if (s.failure) std::rethrow_exception(s.failure);
  s.StartRead();
  bool done = false;
  beast::error_code error;
  s.With([&](auto& ws) {
    ws.async_write(net::buffer(text), [&](beast::error_code ec, std::size_t) {
      error = ec;
      done = true;
    });
  });
  while (!done) s.RunOne(std::nullopt);
  if (error) {
    Fail(std::make_exception_ptr(
        ConnectionError("connection lost: " + error.message())));
    std::rethrow_exception(s.failure);
  }
}

std::optional<std::string> Connection::Next(
    std::optional<Clock::time_point> deadline) {
  Impl& s = *impl_;
  for (;;) {
    if (!s.inbox.empty()) {
      std::string frame = std::move(s.inbox.front());
      s.inbox.pop_front();
      if (frame.starts_with(wire::kErrorPrefix)) {
        Fail(std::make_exception_ptr(
            ProtocolError(frame.substr(wire::kErrorPrefix.size()))));
        std::rethrow_exception(s.failure);
      }
      return frame;
    }
    if (s.failure) std::rethrow_exception(s.failure);
    s.StartRead();
    // What has come is read before the silence is judged.
    if (s.RunReady()) continue;
    s.Watch();
    if (s.failure) std::rethrow_exception(s.failure);
    Clock::time_point wake = s.NextWatch();
    if (deadline) wake = std::min(wake, *deadline);
    if (!s.RunOne(wake) && deadline && Clock::now() >= *deadline) {
      return std::nullopt;
    }
  }
}

}  // namespace locktopus::client::detail
