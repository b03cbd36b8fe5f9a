#include "client/connection.h"

#include <fcntl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
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

  explicit Impl(const ServerAddress& address)
      : tls(address.tls ? MakeTlsContext(address) : nullptr),
        ws(MakeStream(ioc, tls.get())) {}

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

  void StartRead() {
    if (reading || failure) return;
    reading = true;
    With([this](auto& s) {
      s.async_read(buffer, [this, &s](beast::error_code ec, std::size_t) {
        reading = false;
        if (ec == websocket::error::closed) {
          const auto& reason = s.reason();
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

Connection::Connection(const ServerAddress& address)
    : impl_(std::make_unique<Impl>(address)) {
  Impl& s = *impl_;
  const std::string where = address.host + ":" + std::to_string(address.port);
  beast::error_code error;
  std::string tls_failure;  // set when the TLS handshake failed
  websocket::response_type response;
  bool done = false;

  const auto upgrade = [&](auto& ws) {
    AddToken(ws, address.token);
    ws.async_handshake(response, where, LockTarget(address),
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
  s.With([](auto& ws) {
    ws.read_message_max(kMaxFrameBytes);
    ws.text(true);
  });
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
    s.ioc.poll();
  } catch (...) {
    Fail(std::current_exception());
  }
}

void Connection::Fail(std::exception_ptr error) {
  if (!impl_->failure) impl_->failure = std::move(error);
}

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
    if (!s.RunOne(deadline)) return std::nullopt;
  }
}

}  // namespace locktopus::client::detail
