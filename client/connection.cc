#include "client/connection.h"

#include <fcntl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <string_view>

#include "locktopus/errors.h"
#include "wire/codec.h"

namespace locktopus::client::detail {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {
// The server's answers are a few dozen bytes; its error frames are short.
constexpr std::size_t kMaxFrameBytes = std::size_t{64} * 1024;
}  // namespace

struct Connection::Impl {
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
  std::deque<std::string> inbox;
  bool reading = false;
  std::exception_ptr failure;

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
    ws.async_read(buffer, [this](beast::error_code ec, std::size_t) {
      reading = false;
      if (ec == websocket::error::closed) {
        const auto& reason = ws.reason();
        failure = std::make_exception_ptr(ConnectionError(
            "server closed the connection (code " +
            std::to_string(reason.code) +
            (reason.reason.empty() ? ""
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
  }
};

Connection::Connection(const ServerAddress& address)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  const std::string where = address.host + ":" + std::to_string(address.port);
  beast::error_code error;
  websocket::response_type response;
  bool done = false;

  tcp::resolver resolver(s.ioc);
  auto& stream = beast::get_lowest_layer(s.ws);
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
              s.ws.async_handshake(response, where, LockTarget(address),
                                   [&](beast::error_code ec3) {
                                     error = ec3;
                                     done = true;
                                   });
            });
      });
  s.ioc.run();
  if (!done || error) {
    if (error == websocket::error::upgrade_declined && response.result_int()) {
      throw HttpError(static_cast<int>(response.result_int()), response.body());
    }
    throw ConnectionError("cannot connect to " + where + ": " +
                          error.message());
  }
  stream.expires_never();
  s.ws.read_message_max(kMaxFrameBytes);
  s.ws.text(true);
}

Connection::~Connection() {
  Impl& s = *impl_;
  if (s.failure) return;
  // A normal close, waiting a moment for the server's close frame.
  bool closed = false;
  s.ws.async_close(websocket::close_code::normal,
                   [&](beast::error_code) { closed = true; });
  const auto deadline = Clock::now() + std::chrono::seconds(1);
  try {
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
  s.ws.async_write(net::buffer(text), [&](beast::error_code ec, std::size_t) {
    error = ec;
    done = true;
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
