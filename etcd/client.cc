// The etcd client's I/O: one HTTP/1.1 POST per attempt, on a connection of
// its own, with failover across the endpoints. codec.cc makes the bodies
// and reads the answers.
//
// Shape (after Beast's examples): each call is a Call object owned by the
// handlers of its pending operations (shared_from_this). Each attempt owns
// its socket and buffers in an Attempt object, so an attempt abandoned at
// its timeout can finish cancelling while the next one runs.

#include "etcd/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>
#include <map>

#include "etcd/codec.h"

namespace locktopus::etcd {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// etcd's default port when a URL names none.
constexpr std::uint16_t kDefaultPort = 2379;

// A range answer can be large (etcd's own request limit is 1.5 MiB, its
// answers are not limited); the HA driver reads a handful of small keys.
constexpr std::size_t kMaxAnswerBytes = std::size_t{16} << 20;  // 16 MiB

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

Result<Endpoint> ParseEndpoint(const std::string& url) {
  auto bad = [&url](const std::string& why) -> Error {
    return {Error::Code::kInvalidArgument,
            "etcd endpoint \"" + url + "\": " + why};
  };
  const auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return bad("not a URL (" + parsed.error().message() + ")");
  const boost::urls::url_view& u = *parsed;
  if (u.scheme_id() == boost::urls::scheme::https) {
    return bad("https is not supported: the client speaks plain http");
  }
  if (u.scheme_id() != boost::urls::scheme::http) {
    return bad("not an http:// URL");
  }
  if (u.has_userinfo()) return bad("user info is not supported");
  if (!u.path().empty() && u.path() != "/") return bad("has a path");
  if (u.has_query() || u.has_fragment()) return bad("has a query or fragment");
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
    case boost::urls::host_type::name:
      break;
    default:
      return bad("no host");
  }
  Endpoint endpoint{.host = u.host_address(), .port = kDefaultPort};
  if (endpoint.host.empty()) return bad("no host");
  if (u.has_port()) {
    // Read from the text: port_number() keeps only the low 16 bits.
    const std::string_view text = u.port();
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(text.data(), text.data() + text.size(), port);
    if (ec != std::errc() || end != text.data() + text.size() || port == 0 ||
        port > 65535) {
      return bad("bad port");
    }
    endpoint.port = static_cast<std::uint16_t>(port);
  }
  return endpoint;
}

std::string LowerFirst(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(s[0]));
  return s;
}

// A call whose Client is gone, or which the Client cancels when it goes.
class PendingCall {
 public:
  virtual ~PendingCall() = default;
  virtual void Cancel() = 0;
};

}  // namespace

// What the Client and its pending calls share; lives as long as either.
class ClientImpl {
 public:
  ClientImpl(net::any_io_executor executor, std::vector<Endpoint> endpoints,
             std::chrono::milliseconds deadline)
      : executor(std::move(executor)),
        endpoints(std::move(endpoints)),
        deadline(deadline) {}

  // Completes every pending call with kCancelled; later calls too.
  void CancelAll() {
    closed = true;
    // Cancel unregisters: take the map first.
    auto calls = std::move(pending);
    pending.clear();
    for (auto& [id, weak] : calls) {
      if (auto call = weak.lock()) call->Cancel();
    }
  }

  const net::any_io_executor executor;
  const std::vector<Endpoint> endpoints;
  const std::chrono::milliseconds deadline;
  // Index in `endpoints` of the last member that answered: where the next
  // call starts.
  std::size_t current = 0;
  // The etcd cluster of the first member that answered. A member of another
  // cluster is taken for a dead one: its keys and leases are not ours (an
  // endpoint listed by mistake, or a port a new process took after its
  // member died).
  std::uint64_t cluster_id = 0;
  bool closed = false;             // the Client is destroyed
  std::uint64_t next_call_id = 1;  // 0: a call not registered
  std::map<std::uint64_t, std::weak_ptr<PendingCall>> pending;
};

namespace {

// One call: a POST of `body_` to `path_`, tried on the endpoints in turn
// (header, contract 3) until one answers or each has been tried.
//
// Invariants: `done_` is called once, by Finish or Cancel, which set
// `finished_`. `attempt_` is the attempt in flight, or null; a handler whose
// attempt is no longer `attempt_` belongs to an abandoned attempt and does
// nothing.
template <class T>
class Call : public PendingCall, public std::enable_shared_from_this<Call<T>> {
 public:
  using Parse = Result<T> (*)(int http_status, std::string_view body);

  Call(std::shared_ptr<ClientImpl> client, std::string_view path,
       std::string body, Parse parse, Client::Callback<T> done,
       std::chrono::milliseconds deadline)
      : client_(std::move(client)),
        path_(path),
        body_(std::move(body)),
        parse_(parse),
        done_(std::move(done)),
        deadline_(Clock::now() + deadline),
        timer_(client_->executor) {}

  // Posted, so that no callback runs inside the method that made the call.
  void Start() {
    net::post(client_->executor, [self = this->shared_from_this()] {
      if (self->client_->closed) {
        self->Cancel();
        return;
      }
      if (self->client_->endpoints.empty()) {
        self->Finish(Error{Error::Code::kInvalidArgument,
                           "etcd: the client has no endpoints"});
        return;
      }
      self->id_ = self->client_->next_call_id++;
      self->client_->pending.emplace(self->id_, self->weak_from_this());
      self->first_ = self->client_->current;
      self->NextAttempt();
    });
  }

  void Cancel() override {
    if (finished_) return;
    finished_ = true;
    client_->pending.erase(id_);
    Abandon();
    net::post(client_->executor, [done = std::move(done_)] {
      done(Error{Error::Code::kCancelled,
                 "etcd: cancelled, the client was destroyed"});
    });
  }

 private:
  // One member, one HTTP exchange.
  struct Attempt {
    Attempt(const net::any_io_executor& executor, std::size_t endpoint)
        : endpoint(endpoint), resolver(executor), socket(executor) {}

    const std::size_t endpoint;  // index in the client's endpoints
    tcp::resolver resolver;
    tcp::socket socket;
    http::request<http::string_body> request;
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    std::chrono::milliseconds budget{0};
    std::string_view phase = "connecting";  // for a timeout's message
  };

  void NextAttempt() {
    const std::size_t n = client_->endpoints.size();
    const auto left = deadline_ - Clock::now();
    if (tried_ == n || left <= Clock::duration::zero()) {
      for (; tried_ < n; ++tried_) {
        Note((first_ + tried_) % n, "not tried, the deadline had passed");
      }
      Finish(Error{Error::Code::kUnavailable, "etcd " + failures_});
      return;
    }
    const std::size_t index = (first_ + tried_) % n;
    const auto budget = left / static_cast<long>(n - tried_);
    ++tried_;

    auto a = std::make_shared<Attempt>(client_->executor, index);
    attempt_ = a;
    a->budget = std::chrono::ceil<std::chrono::milliseconds>(budget);
    timer_.expires_after(budget);
    timer_.async_wait(
        [self = this->shared_from_this(), a](beast::error_code ec) {
          if (ec || a != self->attempt_) return;
          self->Fail("timeout after " + std::to_string(a->budget.count()) +
                     " ms " + std::string(a->phase));
        });

    const Endpoint& endpoint = client_->endpoints[index];
    a->request = http::request<http::string_body>(http::verb::post, path_, 11);
    a->request.set(http::field::host, endpoint.ToString());
    a->request.set(http::field::content_type, "application/json");
    // One exchange per connection: no idle connection to find closed later.
    a->request.keep_alive(false);
    a->request.body() = body_;
    a->request.prepare_payload();
    a->parser.body_limit(kMaxAnswerBytes);

    beast::error_code ec;
    const auto address = net::ip::make_address(endpoint.host, ec);
    if (!ec) {
      a->socket.async_connect(
          tcp::endpoint(address, endpoint.port),
          [self = this->shared_from_this(), a](beast::error_code ec) {
            self->OnConnect(a, ec);
          });
      return;
    }
    a->phase = "resolving";
    a->resolver.async_resolve(
        endpoint.host, std::to_string(endpoint.port),
        [self = this->shared_from_this(), a](
            beast::error_code ec, const tcp::resolver::results_type& results) {
          if (a != self->attempt_) return;
          if (ec) {
            self->Fail("cannot resolve: " + LowerFirst(ec.message()));
            return;
          }
          a->phase = "connecting";
          net::async_connect(
              a->socket, results,
              [self, a](beast::error_code ec, const tcp::endpoint&) {
                self->OnConnect(a, ec);
              });
        });
  }

  void OnConnect(const std::shared_ptr<Attempt>& a, beast::error_code ec) {
    if (a != attempt_) return;
    if (ec) {
      Fail(LowerFirst(ec.message()));
      return;
    }
    a->phase = "sending";
    http::async_write(
        a->socket, a->request,
        [self = this->shared_from_this(), a](beast::error_code ec,
                                             std::size_t) {
          if (a != self->attempt_) return;
          if (ec) {
            self->Fail(LowerFirst(ec.message()) + " while sending");
            return;
          }
          a->phase = "waiting for the answer";
          http::async_read(a->socket, a->buffer, a->parser,
                           [self, a](beast::error_code ec, std::size_t) {
                             self->OnRead(a, ec);
                           });
        });
  }

  void OnRead(const std::shared_ptr<Attempt>& a, beast::error_code ec) {
    if (a != attempt_) return;
    if (ec) {
      Fail(LowerFirst(ec.message()) + " while reading the answer");
      return;
    }
    const auto& response = a->parser.get();
    Result<T> result = parse_(response.result_int(), response.body());
    Abandon();
    if (result.ok() && !SameCluster(result.value().header.cluster_id)) {
      result = Error{Error::Code::kUnavailable,
                     "a member of another etcd cluster (id " +
                         HexId(result.value().header.cluster_id) + ", not " +
                         HexId(client_->cluster_id) + ")"};
    }
    if (!result.ok() && result.error().code == Error::Code::kUnavailable) {
      Note(a->endpoint, result.error().message);
      NextAttempt();
      return;
    }
    // The member answered as etcd: it is where the next call starts.
    client_->current = a->endpoint;
    if (!result.ok()) {
      Note(a->endpoint, result.error().message);
      Finish(Error{result.error().code, "etcd " + failures_});
      return;
    }
    Finish(std::move(result));
  }

  // Whether an answer from cluster `id` is one of ours; the first answer
  // that names its cluster decides which that is.
  bool SameCluster(std::uint64_t id) {
    if (id == 0) return true;
    if (client_->cluster_id == 0) client_->cluster_id = id;
    return id == client_->cluster_id;
  }

  // The attempt in flight failed with `what`: on to the next endpoint.
  void Fail(const std::string& what) {
    const std::size_t endpoint = attempt_->endpoint;
    Abandon();
    Note(endpoint, what);
    NextAttempt();
  }

  void Note(std::size_t endpoint, const std::string& what) {
    if (!failures_.empty()) failures_ += "; ";
    failures_ += client_->endpoints[endpoint].ToString() + ": " + what;
  }

  // Ends the attempt in flight, if any: its pending operations complete
  // with an error that the handlers ignore. Shut down before the close: on
  // io_uring a receive in flight keeps the socket alive past close(2)
  // until its cancellation lands, and its late completion reached the next
  // attempt's socket as an early end of stream.
  void Abandon() {
    timer_.cancel();
    if (!attempt_) return;
    beast::error_code ignored;
    attempt_->resolver.cancel();
    attempt_->socket.shutdown(tcp::socket::shutdown_both, ignored);
    attempt_->socket.close(ignored);
    attempt_.reset();
  }

  void Finish(Result<T> result) {
    if (finished_) return;
    finished_ = true;
    client_->pending.erase(id_);
    Abandon();
    auto done = std::move(done_);
    done(std::move(result));
  }

  const std::shared_ptr<ClientImpl> client_;
  const std::string path_;
  const std::string body_;
  const Parse parse_;
  Client::Callback<T> done_;
  const Clock::time_point deadline_;
  net::steady_timer timer_;  // the attempt in flight's timeout
  std::uint64_t id_ = 0;     // in client_->pending; 0 before Start
  std::size_t first_ = 0;    // the endpoint tried first
  std::size_t tried_ = 0;    // endpoints tried so far
  std::shared_ptr<Attempt> attempt_;
  std::string failures_;  // "host:port: what; ..." for each failed attempt
  bool finished_ = false;
};

template <class T>
void StartCall(const std::shared_ptr<ClientImpl>& client, std::string_view path,
               std::string body, typename Call<T>::Parse parse,
               Client::Callback<T> done, Client::Deadline deadline) {
  std::make_shared<Call<T>>(client, path, std::move(body), parse,
                            std::move(done),
                            deadline.value_or(client->deadline))
      ->Start();
}

}  // namespace

std::string Endpoint::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<std::vector<Endpoint>> ParseEndpoints(std::string_view urls) {
  std::vector<Endpoint> endpoints;
  while (true) {
    const std::size_t comma = urls.find(',');
    const std::string url = Trim(urls.substr(0, comma));
    if (url.empty()) {
      return Error{
          Error::Code::kInvalidArgument,
          "etcd endpoints: an empty entry in \"" + std::string(urls) + "\""};
    }
    Result<Endpoint> endpoint = ParseEndpoint(url);
    if (!endpoint.ok()) return endpoint.error();
    for (const Endpoint& e : endpoints) {
      if (e == endpoint.value()) {
        return Error{Error::Code::kInvalidArgument,
                     "etcd endpoint \"" + url + "\": listed twice"};
      }
    }
    endpoints.push_back(std::move(endpoint).value());
    if (comma == std::string_view::npos) return endpoints;
    urls.remove_prefix(comma + 1);
  }
}

Client::Client(boost::asio::any_io_executor executor,
               std::vector<Endpoint> endpoints,
               std::chrono::milliseconds deadline)
    : impl_(std::make_shared<ClientImpl>(std::move(executor),
                                         std::move(endpoints), deadline)) {}

Client::~Client() { impl_->CancelAll(); }

void Client::LeaseGrant(std::int64_t ttl_seconds,
                        Callback<LeaseGrantResult> done, Deadline deadline) {
  StartCall<LeaseGrantResult>(
      impl_, codec::kLeaseGrantPath, codec::LeaseGrantBody(ttl_seconds),
      &codec::ParseLeaseGrant, std::move(done), deadline);
}

void Client::LeaseKeepAlive(LeaseId lease, Callback<LeaseKeepAliveResult> done,
                            Deadline deadline) {
  StartCall<LeaseKeepAliveResult>(
      impl_, codec::kLeaseKeepAlivePath, codec::LeaseKeepAliveBody(lease),
      &codec::ParseLeaseKeepAlive, std::move(done), deadline);
}

void Client::LeaseRevoke(LeaseId lease, Callback<LeaseRevokeResult> done,
                         Deadline deadline) {
  StartCall<LeaseRevokeResult>(
      impl_, codec::kLeaseRevokePath, codec::LeaseRevokeBody(lease),
      &codec::ParseLeaseRevoke, std::move(done), deadline);
}

void Client::Range(const RangeRequest& request, Callback<RangeResult> done,
                   Deadline deadline) {
  StartCall<RangeResult>(impl_, codec::kRangePath, codec::RangeBody(request),
                         &codec::ParseRange, std::move(done), deadline);
}

void Client::Txn(const TxnRequest& request, Callback<TxnResult> done,
                 Deadline deadline) {
  StartCall<TxnResult>(impl_, codec::kTxnPath, codec::TxnBody(request),
                       &codec::ParseTxn, std::move(done), deadline);
}

Endpoint Client::current_endpoint() const {
  if (impl_->endpoints.empty()) return {};
  return impl_->endpoints[impl_->current];
}

}  // namespace locktopus::etcd
