// The Beast/Asio types the network shell shares: the strand every
// connection runs on, and the plain and TLS streams over it. Included only
// by server/net/ files; everything else stays free of Beast.
//
// Shape (after Beast's advanced server and chat-multi examples): the
// listener gives each accepted socket its own strand; an HttpSession reads
// requests and, on an upgrade to /v1, hands the stream to a
// WebSocketSession. Every handler holds shared_from_this(), so a session
// lives exactly as long as an operation of its is pending. With
// --tls-cert/--tls-key every accepted socket first completes a TLS
// handshake; both sessions are templates over the stream. The HTTP session
// is instantiated for Stream (plain) and TlsStream; on a plain connection
// the WebSocket session takes the bare socket out of the Stream
// (PlainSocket), on TLS the TlsStream as it is.

#ifndef LOCKTOPUS_SERVER_NET_STREAMS_H_
#define LOCKTOPUS_SERVER_NET_STREAMS_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <string>

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

// The lowest layer of a plain WebSocket session: the socket itself. Beast's
// basic_stream adds what the WebSocket needs none of once upgraded (its
// deadlines, which the WebSocket stream keeps itself; rate limits) and
// costs for it on every read and write: an operation of its own around
// each, and three timers per connection. socket() is basic_stream's, so
// that code written for either reads the same.
class PlainSocket : public Socket {
 public:
  explicit PlainSocket(Socket socket) : Socket(std::move(socket)) {}
  Socket& socket() { return *this; }
  const Socket& socket() const { return *this; }

  // Reads into the first non-empty buffer of `buffers` only, which a read
  // may always do (it returns what it read). Beast reads into the two
  // halves of its ring buffer; an operation on several buffers keeps an
  // array of 64 iovecs, which io_uring operations hold while pending (a
  // kilobyte per idle connection), and a single buffer is read with recv()
  // rather than recvmsg().
  template <class MutableBufferSequence, class ReadHandler>
  auto async_read_some(const MutableBufferSequence& buffers,
                       ReadHandler&& handler) {
    net::mutable_buffer first;
    for (auto it = net::buffer_sequence_begin(buffers);
         it != net::buffer_sequence_end(buffers); ++it) {
      first = *it;
      if (first.size() > 0) break;
    }
    return Socket::async_read_some(first, std::forward<ReadHandler>(handler));
  }
};

// The address:port of the peer of `lowest`, a session's PlainSocket or
// Stream; "?" if it cannot be read (the connection is gone).
template <class L>
std::string Peer(const L& lowest) {
  beast::error_code ec;
  auto endpoint = lowest.socket().remote_endpoint(ec);
  if (ec) return "?";
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

// How a WebSocket closes a PlainSocket (Beast's customization point, found
// by argument-dependent lookup): as the socket it is.
inline void teardown(beast::role_type role, PlainSocket& socket,
                     beast::error_code& ec) {
  beast::websocket::teardown(role, socket.socket(), ec);
}
template <class TeardownHandler>
void async_teardown(beast::role_type role, PlainSocket& socket,
                    TeardownHandler&& handler) {
  beast::websocket::async_teardown(role, socket.socket(),
                                   std::forward<TeardownHandler>(handler));
}

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_NET_STREAMS_H_
