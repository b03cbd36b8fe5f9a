#include "server/net/server.h"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <optional>
#include <thread>
#include <vector>

#include "server/core/heap_trim.h"
#include "server/core/log.h"
#include "server/core/pages.h"
#include "server/net/ha.h"
#include "server/net/listener.h"
#include "server/net/port_file.h"
#include "server/net/tls.h"

namespace locktopus::server {
namespace {

constexpr auto kDrainPoll = std::chrono::milliseconds(50);
// How long a fenced server waits for its connections to close before it
// exits.
constexpr auto kFenceFlush = std::chrono::seconds(2);
// The exit code of a fenced server: a supervisor restarts it as a standby.
constexpr int kExitFenced = 3;
// The close code and reason every connection of a fenced server gets
// (RFC 6455 1012: service restart).
constexpr std::uint16_t kFencedCloseCode = 1012;
// How often the lock memory is sampled for HeapTrimmer.
constexpr auto kTrimPoll = std::chrono::milliseconds(250);

class Server {
 public:
  explicit Server(const Config& config)
      : state_(std::make_shared<ServerState>(config)),
        strand_(net::make_strand(ioc_)),
        signals_(strand_, SIGINT, SIGTERM),
        hangup_(strand_),
        stats_timer_(strand_),
        drain_timer_(strand_),
        trim_timer_(strand_) {}

  int Run() {
    UseOneHeapArena();
    if (!LoadTokens() || !LoadTls()) return 1;
    listener_.emplace(ioc_, state_, tls_.get());
    const std::uint16_t port = listener_->Listen();
    if (port == 0) return 1;
    const Config& c = state_->config;
    if ((c.ha() || !c.state_dir.empty()) && !MakeRole(port)) return 1;
    if (!c.port_file.empty() && !WritePortFile(c.port_file, port)) {
      LogError("cannot start: cannot write the port file [" + c.port_file +
               "]");
      return 1;
    }
    if (role_) role_->Start();
    listener_->Start();
    WaitForSignal();
    if (state_->auth != nullptr) {
      hangup_.add(SIGHUP);
      WaitForHangup();
    }
    if (c.stats_interval_s > 0) ScheduleStats();
    ScheduleTrim();

    unsigned threads = c.threads;
    if (threads == 0)
      threads = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i)
      pool.emplace_back([this] { Work(); });
    Work();
    for (auto& t : pool) t.join();
    return exit_code_;
  }

 private:
  bool LoadTokens() {
    const std::string& path = state_->config.auth_token_file;
    if (path.empty()) return true;
    auto loaded = Authenticator::Load(path);
    if (!loaded.ok()) {
      LogError("cannot start: " + loaded.error().message);
      return false;
    }
    state_->auth = std::move(loaded).value();
    LogInfo("authentication on: " + std::to_string(state_->auth->size()) +
            " tokens from [" + path + "]; SIGHUP reloads them");
    return true;
  }

  bool LoadTls() {
    const Config& c = state_->config;
    if (!c.tls()) return true;
    auto loaded = LoadTlsContext(c.tls_cert, c.tls_key);
    if (!loaded.ok()) {
      LogError("cannot start: " + loaded.error().message);
      return false;
    }
    tls_ = std::move(loaded).value();
    LogInfo(
        "TLS on: https:// and wss:// only, TLS 1.2 or later, "
        "certificate [" +
        c.tls_cert + "]");
    return true;
  }

  // HA mode or --state-dir: the role logic that keeps the gate
  // (net/ha.h).
  bool MakeRole(std::uint16_t port) {
    const Config& c = state_->config;
    std::string host = c.host;
    if (host == "0.0.0.0" || host == "::") {
      char name[256] = {};
      host = gethostname(name, sizeof name - 1) == 0 ? name : "localhost";
    }
    auto made = RoleDriver::Make(
        ioc_, state_, host + ":" + std::to_string(port),
        {.fenced = [this](const std::string& why) { OnFenced(why); },
         .resigned = [this](bool clean) { OnResigned(clean); }});
    if (!made.ok()) {
      LogError("cannot start: " + made.error().message);
      return false;
    }
    role_ = std::move(made).value();
    return true;
  }

  // Leadership lost or unprovable: every connection is closed with 1012,
  // then the process exits for a supervisor to restart it as a standby.
  void OnFenced(const std::string& why) {
    net::post(strand_, [this, why] {
      state_->draining = true;
      listener_->Stop();
      const std::size_t closed = state_->sessions.CloseAll(
          kFencedCloseCode, "fenced: not the active server any more");
      LogError("fenced (" + why + "): closing " + std::to_string(closed) +
               " connections and exiting with code " +
               std::to_string(kExitFenced));
      exit_code_ = kExitFenced;
      drain_timer_.expires_after(kFenceFlush);
      drain_timer_.async_wait([this](beast::error_code) { ioc_.stop(); });
    });
  }

  void OnResigned(bool clean) {
    LogInfo(clean ? "resigned cleanly: the successor skips the grace; "
                    "exiting"
                  : "resigned; exiting");
    ioc_.stop();
  }

  // SIGHUP: the token file again. A file that cannot be read, or lists no
  // token, leaves the current tokens in force.
  void WaitForHangup() {
    hangup_.async_wait([this](beast::error_code ec, int) {
      if (ec) return;
      Authenticator& auth = *state_->auth;
      auto reloaded = auth.Reload();
      if (!reloaded.ok()) {
        LogError("SIGHUP: " + reloaded.error().message + "; keeping the " +
                 std::to_string(auth.size()) + " current tokens");
      } else {
        LogInfo("SIGHUP: reloaded " + std::to_string(reloaded.value()) +
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
      listener_->Stop();
      stats_timer_.cancel();
      trim_timer_.cancel();
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
      if (role_) {
        LogInfo("no live locks: resigning");
        role_->Resign();  // exits once resigned
        return;
      }
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
        std::chrono::seconds(state_->config.stats_interval_s));
    stats_timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      LogNamespaceStats(*state_->locks);
      ScheduleStats();
    });
  }

  // Gives freed lock memory back to the system (heap_trim.h).
  void ScheduleTrim() {
    trim_timer_.expires_after(kTrimPoll);
    trim_timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      trimmer_.MaybeTrim(state_->locks->memory().used());
      ScheduleTrim();
    });
  }

  // With --tls-cert only. Declared first, so that it outlives the sessions
  // that ioc_'s destruction destroys.
  std::unique_ptr<net::ssl::context> tls_;
  net::io_context ioc_;
  const std::shared_ptr<ServerState> state_;
  std::optional<Listener> listener_;
  std::unique_ptr<RoleDriver> role_;  // in HA mode or with --state-dir
  // The signals and the timers: their handlers never overlap.
  Strand strand_;
  net::signal_set signals_;
  net::signal_set hangup_;  // SIGHUP, with --auth-token-file only
  net::steady_timer stats_timer_;
  net::steady_timer drain_timer_;
  net::steady_timer trim_timer_;
  HeapTrimmer trimmer_;
  int exit_code_ = 0;
};

}  // namespace

int RunServer(const Config& config) { return Server(config).Run(); }

}  // namespace locktopus::server
