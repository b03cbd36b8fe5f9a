#include "server/server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <openssl/ssl.h>

#include <functional>
#include <thread>
#include <vector>

#include "server/log.h"
#include "server/sessions.h"

namespace locktopus::server {
namespace {

constexpr auto kDrainPoll = std::chrono::milliseconds(50);
// Pause after a failed accept: out of file descriptors, accepting again at
// once would fail again at once, and spin.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

class Server {
 public:
  explicit Server(const Options& options)
      : state_(std::make_shared<ServerState>(options)),
        strand_(net::make_strand(ioc_)),
        acceptor_(strand_),
        signals_(strand_, SIGINT, SIGTERM),
        hangup_(strand_),
        stats_timer_(strand_),
        drain_timer_(strand_),
        accept_timer_(strand_) {}

  int Run() {
    if (!LoadTokens()) return 1;
    if (!LoadTls()) return 1;
    if (!Listen()) return 1;
    DoAccept();
    WaitForSignal();
    if (state_->auth != nullptr) {
      hangup_.add(SIGHUP);
      WaitForHangup();
    }
    if (state_->options.stats_interval_s > 0) ScheduleStats();

    unsigned threads = state_->options.threads;
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back([this] { Work(); });
    Work();
    for (auto& t : pool) t.join();
    return exit_code_;
  }

 private:
  bool Listen() {
    const Options& o = state_->options;
    beast::error_code ec;
    const auto address = net::ip::make_address(o.host, ec);
    if (ec) {
      LogError("cannot listen: bad address [" + o.host + "]: " + ec.message());
      return false;
    }
    const tcp::endpoint endpoint(address, o.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      LogError("cannot listen on " + o.host + ":" + std::to_string(o.port) +
               ": " + ec.message());
      return false;
    }
    const auto local = acceptor_.local_endpoint();
    LogInfo("listening on " + local.address().to_string() + ":" +
            std::to_string(local.port()));
    return true;
  }

  bool LoadTokens() {
    const std::string& path = state_->options.auth_token_file;
    if (path.empty()) return true;
    auto loaded = Authenticator::Load(path);
    if (auto* error = std::get_if<std::string>(&loaded)) {
      LogError("cannot start: " + *error);
      return false;
    }
    state_->auth = std::get<std::unique_ptr<Authenticator>>(std::move(loaded));
    LogInfo("authentication on: " + std::to_string(state_->auth->size()) +
            " tokens from [" + path + "]; SIGHUP reloads them");
    return true;
  }

  // The TLS context of every connection, from --tls-cert and --tls-key:
  // TLS 1.2 or later, the key checked against the certificate.
  bool LoadTls() {
    const Options& o = state_->options;
    if (o.tls_cert.empty()) return true;
    auto tls = std::make_unique<net::ssl::context>(
        net::ssl::context::tls_server);
    if (SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION) !=
        1) {
      LogError("cannot start: cannot require TLS 1.2 or later");
      return false;
    }
    beast::error_code ec;
    tls->use_certificate_chain_file(o.tls_cert, ec);
    if (ec) {
      LogError("cannot start: TLS certificate [" + o.tls_cert +
               "]: " + ec.message());
      return false;
    }
    tls->use_private_key_file(o.tls_key, net::ssl::context::pem, ec);
    if (!ec && SSL_CTX_check_private_key(tls->native_handle()) != 1) {
      LogError("cannot start: TLS key [" + o.tls_key +
               "] does not match the certificate [" + o.tls_cert + "]");
      return false;
    }
    if (ec) {
      LogError("cannot start: TLS key [" + o.tls_key + "]: " + ec.message());
      return false;
    }
    state_->tls = std::move(tls);
    LogInfo("TLS on: https:// and wss:// only, TLS 1.2 or later, "
            "certificate [" + o.tls_cert + "]");
    return true;
  }

  // SIGHUP: the token file again. A file that cannot be read, or lists no
  // token, leaves the current tokens in force.
  void WaitForHangup() {
    hangup_.async_wait([this](beast::error_code ec, int) {
      if (ec) return;
      Authenticator& auth = *state_->auth;
      auto reloaded = auth.Reload();
      if (auto* error = std::get_if<std::string>(&reloaded)) {
        LogError("SIGHUP: " + *error + "; keeping the " +
                 std::to_string(auth.size()) + " current tokens");
      } else {
        LogInfo("SIGHUP: reloaded " +
                std::to_string(std::get<std::size_t>(reloaded)) +
                " tokens from [" + auth.path() + "]");
      }
      WaitForHangup();
    });
  }

  // Runs handlers on this thread until the server stops. A handler's
  // exception is logged and the thread goes on serving.
  void Work() {
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        LogError(std::string("internal error: ") + e.what());
      }
    }
  }

  void DoAccept() {
    acceptor_.async_accept(
        net::make_strand(ioc_), [this](beast::error_code ec, Socket s) {
          // Closed by the first signal; a connection accepted just before
          // is dropped with it.
          if (state_->draining.load()) return;
          if (ec) {
            OnAcceptError(ec);
            return;
          }
          if (failed_accepts_ > 0) {
            LogInfo("accepting again after " +
                    std::to_string(failed_accepts_) + " failed accepts");
            failed_accepts_ = 0;
          }
          Increment(state_->metrics.tcp_connections_accepted);
          // Answers and notices are small frames that must leave at once:
          // with Nagle, an `acquired` after an `enqueued` waited for the
          // client's delayed ACK (~40 ms).
          s.set_option(tcp::no_delay(true), ec);
          StartHttpSession(std::move(s), state_);
          DoAccept();
        });
  }

  // Out of file descriptors (EMFILE, ENFILE) or memory, accept fails until
  // some connection closes: wait a little before trying again, and log once
  // per episode rather than once per try.
  void OnAcceptError(beast::error_code ec) {
    if (failed_accepts_++ == 0) {
      LogWarning("accept: " + ec.message() + "; retrying every " +
                 std::to_string(kAcceptBackoff.count()) +
                 " ms until it succeeds");
    }
    accept_timer_.expires_after(kAcceptBackoff);
    accept_timer_.async_wait([this](beast::error_code ec) {
      if (!ec && !state_->draining.load()) DoAccept();
    });
  }

  void WaitForSignal() {
    signals_.async_wait([this](beast::error_code ec, int) {
      if (ec) return;
      if (state_->draining.exchange(true)) {
        LogWarning("second signal: exiting now");
        exit_code_ = 1;
        ioc_.stop();
        return;
      }
      LogInfo("shutting down: no longer accepting connections");
      beast::error_code ignored;
      acceptor_.close(ignored);
      stats_timer_.cancel();
      accept_timer_.cancel();
      WaitForSignal();
      Drain(/*first=*/true);
    });
  }

  // Exits once no lock is live; polls, since the last release may happen on
  // any connection. The first look never exits: a lock request that began
  // before the draining flag was up has one poll interval to finish (later
  // ones are refused), so no lock is granted after the final look.
  void Drain(bool first) {
    const std::uint64_t live = state_->locks->LiveLocks();
    if (live == 0 && !first) {
      LogInfo("no live locks: exiting");
      ioc_.stop();
      return;
    }
    if (first && live > 0) {
      LogInfo("waiting for " + std::to_string(live) +
              " live locks to be released");
    }
    drain_timer_.expires_after(kDrainPoll);
    drain_timer_.async_wait([this](beast::error_code ec) {
      if (!ec) Drain(/*first=*/false);
    });
  }

  void ScheduleStats() {
    stats_timer_.expires_after(
        std::chrono::seconds(state_->options.stats_interval_s));
    stats_timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      state_->locks->ForEach([](const Namespace& ns) {
        const Stats s = ns.GetStats();
        LogInfo("stats namespace [" + ns.name() + "]: last id " +
                std::to_string(s.last_id) + ", locks pending " +
                std::to_string(s.locks_pending) + " acquired " +
                std::to_string(s.locks_acquired) + ", resources pending " +
                std::to_string(s.resources_pending) + " acquired " +
                std::to_string(s.resources_acquired) + ", paths " +
                std::to_string(s.path_count));
      });
      ScheduleStats();
    });
  }

  net::io_context ioc_;
  const std::shared_ptr<ServerState> state_;
  // The acceptor, the signals and the timers: their handlers never overlap.
  net::strand<net::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  net::signal_set signals_;
  net::signal_set hangup_;  // SIGHUP, with --auth-token-file only
  net::steady_timer stats_timer_;
  net::steady_timer drain_timer_;
  net::steady_timer accept_timer_;
  std::uint64_t failed_accepts_ = 0;  // in the current episode
  int exit_code_ = 0;
};

}  // namespace

int RunServer(const Options& options) { return Server(options).Run(); }

}  // namespace locktopus::server
