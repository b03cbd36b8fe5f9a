#include "tests/e2e/etcd_cluster.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace locktopus::e2e {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;

namespace {

constexpr auto kStartPatience = std::chrono::seconds(20);
constexpr int kStartTries = 3;
constexpr std::size_t kLogTailLines = 40;

// `count` distinct ports that were free a moment ago: all bound at once to
// port 0, then released for etcd to bind. Another process may take one in
// between; the cluster then fails to start and is retried on new ports.
std::vector<std::uint16_t> FreePorts(std::size_t count) {
  net::io_context ioc;
  std::vector<tcp::acceptor> held;
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i < count; ++i) {
    held.emplace_back(ioc,
                      tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    ports.push_back(held.back().local_endpoint().port());
  }
  return ports;
}

std::string Tail(const std::string& text, std::size_t lines) {
  std::size_t pos = text.size();
  for (std::size_t n = 0; n <= lines && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos + 1);
}

std::uint64_t ReadUint(const json::value* v) {
  if (v == nullptr) return 0;
  if (const json::string* s = v->if_string()) {
    return std::strtoull(s->c_str(), nullptr, 10);
  }
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64()) return static_cast<std::uint64_t>(v->get_int64());
  return 0;
}

}  // namespace

std::string EtcdCluster::Binary() {
  const char* bin = std::getenv("LOCKTOPUS_ETCD_BIN");
  return bin != nullptr && *bin != '\0' ? bin : "/usr/bin/etcd";
}

bool EtcdCluster::Available() { return access(Binary().c_str(), X_OK) == 0; }

EtcdCluster::EtcdCluster(Options options) : options_(options) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
      "/locktopus-etcd-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("cannot create a directory like " + pattern);
  }
  dir_ = pattern;
  static std::atomic<int> clusters{0};
  token_ = "locktopus-test-" + std::to_string(getpid()) + "-" +
           std::to_string(clusters++);
  for (int i = 0; i < kStartTries; ++i) {
    try {
      StartAll();
    } catch (...) {
      KillAll();
      std::filesystem::remove_all(dir_);
      throw;
    }
    if (WaitReady(kStartPatience)) return;
    std::string logs;
    for (int m = 0; m < size(); ++m) logs += Tail(Log(m), kLogTailLines);
    KillAll();
    // A port taken by another process between FreePorts and etcd's bind:
    // try again on other ports. Anything else will not get better.
    if (logs.find("address already in use") == std::string::npos ||
        i + 1 == kStartTries) {
      std::filesystem::remove_all(dir_);
      throw std::runtime_error("etcd cluster did not start:\n" + logs);
    }
  }
}

EtcdCluster::~EtcdCluster() {
  if (::testing::Test::HasFailure()) {
    for (int m = 0; m < size(); ++m) {
      std::cerr << "---- etcd " << members_[m].name << " (client port "
                << members_[m].client_port << "), last lines ----\n"
                << Tail(Log(m), kLogTailLines);
    }
    std::cerr << "--------------------\n";
  }
  KillAll();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void EtcdCluster::StartAll() {
  const std::size_t n = static_cast<std::size_t>(options_.members);
  const std::vector<std::uint16_t> ports = FreePorts(2 * n);
  // Each try is a new cluster: new data directories, new logs.
  for (int m = 0; m < size(); ++m) {
    std::filesystem::remove_all(dir_ + "/" + members_[m].name);
    std::filesystem::remove(dir_ + "/" + members_[m].name + ".log");
  }
  members_.clear();
  for (std::size_t i = 0; i < n; ++i) {
    members_.push_back({.name = "m" + std::to_string(i),
                        .client_port = ports[2 * i],
                        .peer_port = ports[2 * i + 1]});
  }
  for (int m = 0; m < size(); ++m) Spawn(m);
}

void EtcdCluster::Spawn(int member) {
  Member& me = members_[member];
  std::string initial_cluster;
  for (const Member& other : members_) {
    if (!initial_cluster.empty()) initial_cluster += ",";
    initial_cluster +=
        other.name + "=http://127.0.0.1:" + std::to_string(other.peer_port);
  }
  const std::string client = ClientUrl(member);
  const std::string peer = "http://127.0.0.1:" + std::to_string(me.peer_port);
  // Each flag with its value.
  // clang-format off
  std::vector<std::string> args = {
      Binary(),
      "--name", me.name,
      "--data-dir", dir_ + "/" + me.name,
      "--listen-client-urls", client,
      "--advertise-client-urls", client,
      "--listen-peer-urls", peer,
      "--initial-advertise-peer-urls", peer,
      "--initial-cluster", initial_cluster,
      "--initial-cluster-state", "new",
      "--initial-cluster-token", token_,
      "--heartbeat-interval", std::to_string(options_.heartbeat_ms),
      "--election-timeout", std::to_string(options_.election_timeout_ms),
      "--logger", "zap",
  };
  // clang-format on
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const std::string log = dir_ + "/" + me.name + ".log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  const int rc = posix_spawn(&me.pid, args[0].c_str(), &actions, nullptr,
                             argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    me.pid = -1;
    throw std::runtime_error("cannot start " + args[0]);
  }
}

bool EtcdCluster::WaitReady(std::chrono::milliseconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (std::chrono::steady_clock::now() < deadline) {
    for (int m = 0; m < size(); ++m) {
      // A member that exited (a port taken, a bad flag) will not come up.
      int status = 0;
      if (members_[m].pid > 0 &&
          waitpid(members_[m].pid, &status, WNOHANG) == members_[m].pid) {
        members_[m].pid = -1;
        return false;
      }
    }
    if (Leader().has_value()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void EtcdCluster::KillAll() {
  for (int m = 0; m < size(); ++m) {
    if (running(m)) Kill(m);
  }
}

std::uint16_t EtcdCluster::client_port(int member) const {
  return members_.at(member).client_port;
}

std::string EtcdCluster::ClientUrl(int member) const {
  return "http://127.0.0.1:" + std::to_string(client_port(member));
}

std::string EtcdCluster::ClientUrls() const {
  std::string urls;
  for (int m = 0; m < size(); ++m) {
    if (!urls.empty()) urls += ",";
    urls += ClientUrl(m);
  }
  return urls;
}

void EtcdCluster::Kill(int member) {
  Member& me = members_.at(member);
  if (me.pid < 0) return;
  kill(me.pid, SIGKILL);
  waitpid(me.pid, nullptr, 0);
  me.pid = -1;
  me.paused = false;
}

void EtcdCluster::Pause(int member) {
  if (!running(member)) return;
  kill(members_[member].pid, SIGSTOP);
  members_[member].paused = true;
}

void EtcdCluster::Resume(int member) {
  if (!running(member)) return;
  kill(members_[member].pid, SIGCONT);
  members_[member].paused = false;
}

void EtcdCluster::Restart(int member) {
  if (!running(member)) Spawn(member);
}

bool EtcdCluster::running(int member) const {
  return members_.at(member).pid > 0;
}

std::optional<int> EtcdCluster::Leader() const {
  std::map<std::uint64_t, int> by_id;  // member ID -> index
  std::optional<std::uint64_t> leader;
  for (int m = 0; m < size(); ++m) {
    if (!running(m) || members_[m].paused) continue;
    const EtcdReply reply =
        EtcdPost(client_port(m), "/v3/maintenance/status", "{}");
    if (reply.status != 200) return std::nullopt;
    json::error_code ec;
    const json::value v = json::parse(reply.body, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const json::object& o = v.get_object();
    const json::value* header = o.if_contains("header");
    const std::uint64_t id =
        header != nullptr && header->is_object()
            ? ReadUint(header->get_object().if_contains("member_id"))
            : 0;
    const std::uint64_t says = ReadUint(o.if_contains("leader"));
    if (says == 0 || (leader && *leader != says)) return std::nullopt;
    leader = says;
    by_id[id] = m;
  }
  if (!leader || !by_id.contains(*leader)) return std::nullopt;
  return by_id[*leader];
}

std::optional<int> EtcdCluster::WaitForLeader(
    std::chrono::milliseconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (true) {
    if (auto leader = Leader()) return leader;
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string EtcdCluster::Log(int member) const {
  std::ifstream in(dir_ + "/" + members_.at(member).name + ".log");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

EtcdReply EtcdPost(std::uint16_t port, const std::string& path,
                   const std::string& body) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  EtcdReply reply;
  http::request<http::string_body> req{http::verb::post, path, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  auto res = std::make_shared<http::response<http::string_body>>();
  auto buffer = std::make_shared<beast::flat_buffer>();
  // Asynchronous, so that one timeout bounds connect, write and read.
  stream.expires_after(std::chrono::seconds(2));
  stream.async_connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
      [&](beast::error_code ec) {
        if (ec) return;
        http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
          if (ec) return;
          http::async_read(
              stream, *buffer, *res, [&](beast::error_code ec, std::size_t) {
                if (ec) return;
                reply = {static_cast<int>(res->result_int()), res->body()};
              });
        });
      });
  ioc.run();
  return reply;
}

}  // namespace locktopus::e2e
