#include "tests/e2e/server_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace locktopus::e2e {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

constexpr auto kServerStartPatience = std::chrono::seconds(20);

// The port in the port file `path`; nullopt while there is none. The server
// renames the file there complete, so a file that exists holds the port.
std::optional<std::uint16_t> ReadPortFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  unsigned port = 0;
  if (!(in >> port) || port == 0 || port > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

std::optional<Endpoint> ParseServerAddress() {
  const char* text = std::getenv("SERVER_ADDRESS");
  if (text == nullptr || *text == '\0') return std::nullopt;
  const std::string address = text;
  const std::size_t colon = address.rfind(':');
  unsigned port = 0;
  const char* end = address.data() + address.size();
  if (colon == std::string::npos || colon == 0 ||
      std::from_chars(address.data() + colon + 1, end, port).ptr != end ||
      port == 0 || port > 65535) {
    throw std::runtime_error("SERVER_ADDRESS=" + address +
                             ": expected host:port");
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return Endpoint{host, static_cast<std::uint16_t>(port)};
}

}  // namespace

const std::optional<Endpoint>& SharedServer() {
  static const std::optional<Endpoint> shared = ParseServerAddress();
  return shared;
}

std::string UniqueNs(const std::string& prefix) {
  // The process ID alone repeats across runs, and a shared server keeps the
  // namespaces of earlier runs.
  static const std::string run = [] {
    std::random_device random;
    return std::to_string(getpid()) + "." + std::to_string(random() % 1000000);
  }();
  static std::atomic<int> counter{0};
  return prefix + "-" + run + "-" + std::to_string(++counter);
}

ServerProcess::ServerProcess(std::vector<std::string> flags) {
  if (const auto& shared = SharedServer()) {
    if (!flags.empty()) {
      throw std::logic_error(
          "a test that starts the server with flags must call "
          "LOCKTOPUS_NEEDS_OWN_SERVER first");
    }
    host_ = shared->host;
    port_ = shared->port;
    return;
  }
  // A directory of its own: the server also writes a scratch file beside
  // the port file.
  std::string dir =
      (std::filesystem::temp_directory_path() / "locktopus-e2e-XXXXXX")
          .string();
  if (mkdtemp(dir.data()) == nullptr) throw std::runtime_error("mkdtemp");
  const std::filesystem::path port_file = std::filesystem::path(dir) / "port";

  std::vector<std::string> args = {
      LOCKTOPUS_BIN, "-H", "127.0.0.1",
      "-p",          "0",  "--port-file=" + port_file.string()};
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  auto fail = [&dir](const std::string& what) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    throw std::runtime_error(what);
  };
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) fail("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  if (posix_spawn(&pid_, args[0].c_str(), &actions, nullptr, argv.data(),
                  environ) != 0) {
    fail("cannot start " + args[0]);
  }
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);

  const int fd = pipe_fds[0];
  reader_ = std::thread([this, fd] {
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) {
      std::lock_guard lock(mu_);
      log_.append(buf, n);
    }
    close(fd);
  });

  const auto deadline = std::chrono::steady_clock::now() + kServerStartPatience;
  std::optional<std::uint16_t> port = ReadPortFile(port_file);
  while (!port && exit_code_ < 0 &&
         std::chrono::steady_clock::now() < deadline) {
    WaitExit(std::chrono::milliseconds(5));  // sets exit_code_ if it exited
    port = ReadPortFile(port_file);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  if (!port) {
    Stop();  // the log is complete once the reader has seen the pipe close
    throw std::runtime_error("server did not start:\n" + Log());
  }
  port_ = *port;
}

ServerProcess::~ServerProcess() {
  if (pid_ < 0) return;  // not started here
  if (::testing::Test::HasFailure()) {
    std::cerr << "---- server log ----\n" << Log() << "--------------------\n";
  }
  Stop();
}

void ServerProcess::Stop() {
  if (pid_ > 0 && exit_code_ < 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    exit_code_ = 128 + SIGKILL;
  }
  if (reader_.joinable()) reader_.join();
}

void ServerProcess::RequireOwn(const char* what) const {
  if (pid_ < 0) {
    throw std::logic_error(std::string("a test that ") + what +
                           " must call LOCKTOPUS_NEEDS_OWN_SERVER first");
  }
}

void ServerProcess::Signal(int signal) const {
  RequireOwn("signals the server");
  kill(pid_, signal);
}

bool ServerProcess::Pause(std::chrono::milliseconds patience) const {
  RequireOwn("pauses the server");
  kill(pid_, SIGSTOP);
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid_) + "/task";
  // A thread's state is the field after its name, which ends at the last
  // ')' of its stat line: 'T' once it has stopped.
  auto stopped = [&tasks] {
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
      std::ifstream stat(task.path() / "stat");
      std::string line;
      std::getline(stat, line);
      const std::size_t end = line.rfind(')');
      if (end == std::string::npos || end + 2 >= line.size() ||
          line[end + 2] != 'T') {
        return false;
      }
    }
    return !ec;
  };
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (!stopped()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::optional<int> ServerProcess::WaitExit(std::chrono::milliseconds patience) {
  RequireOwn("waits for the server to exit");
  if (exit_code_ >= 0) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      // The reader may not have appended the last lines yet: it ends when
      // the pipe, closed by the exit, is drained.
      if (reader_.joinable()) reader_.join();
      return exit_code_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

std::string ServerProcess::Log() const {
  std::lock_guard lock(mu_);
  return log_;
}

bool ServerProcess::WaitForLog(const std::string& text,
                               std::chrono::milliseconds patience) {
  RequireOwn("reads the server's log");
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (Log().find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

struct Client::Impl {
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
};

namespace {

// Connects `stream` to the server, resolving its host name.
void Connect(beast::tcp_stream& stream, const ServerProcess& server,
             beast::error_code& ec) {
  tcp::resolver resolver(stream.get_executor());
  const auto endpoints =
      resolver.resolve(server.host(), std::to_string(server.port()), ec);
  if (!ec) stream.connect(endpoints, ec);
}

}  // namespace

Client::Client(const ServerProcess& server, const std::string& ns,
               const std::string& query)
    : impl_(std::make_unique<Impl>()) {
  beast::error_code ec;
  Connect(beast::get_lowest_layer(impl_->ws), server, ec);
  if (ec) throw beast::system_error(ec);
  impl_->ws.handshake(server.host(), "/v1?namespace=" + ns + query);
}

Client::~Client() = default;

void Client::Send(const std::string& text) {
  impl_->ws.text(true);
  impl_->ws.write(net::buffer(text));
}

void Client::Lock(const std::vector<Resource>& resources) {
  Send(wire::FormatLock(resources));
}

void Client::Lock(const std::string& resources_json) {
  Send(R"({"action":"lock","resources":)" + resources_json + "}");
}

void Client::Release() { Send(std::string(wire::FormatRelease())); }

std::optional<std::string> Client::Read(std::chrono::milliseconds patience) {
  if (close_code_ != 0) return std::nullopt;
  // On the heap: a read given up on may end after this call has returned.
  struct Outcome {
    bool done = false;
    std::optional<std::string> text;
  };
  auto outcome = std::make_shared<Outcome>();
  impl_->ws.async_read(
      impl_->buffer, [this, outcome](beast::error_code ec, std::size_t) {
        outcome->done = true;
        if (ec == websocket::error::closed) {
          close_code_ = impl_->ws.reason().code;
        } else if (!ec) {
          outcome->text = beast::buffers_to_string(impl_->buffer.data());
          impl_->buffer.clear();
        } else if (close_code_ == 0) {
          close_code_ = -1;
        }
      });
  impl_->ioc.restart();
  impl_->ioc.run_for(patience);
  if (!outcome->done) {
    // Give up: cancel the read, or if it is past the socket's read (a
    // closing handshake waiting for the server), close the socket. A
    // cancelled read leaves the stream unusable either way.
    close_code_ = -2;
    auto settled = [this, &outcome] {
      impl_->ioc.restart();
      impl_->ioc.run_for(std::chrono::seconds(1));
      return outcome->done;
    };
    auto& socket = beast::get_lowest_layer(impl_->ws).socket();
    beast::error_code ignored;
    socket.cancel(ignored);
    if (!settled()) {
      socket.close(ignored);
      settled();
    }
  }
  return outcome->text;
}

void Client::Drop() {
  beast::error_code ignored;
  beast::get_lowest_layer(impl_->ws).socket().close(ignored);
}

std::string Answer(LockId id, wire::Action action, wire::ConnState state) {
  return wire::FormatAnswer({id, action, state});
}

namespace {

HttpReply Http(const ServerProcess& server, http::verb verb,
               const std::string& target) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  Connect(stream, server, ec);
  if (ec) return {};
  http::request<http::empty_body> req{verb, target, 11};
  req.set(http::field::host, server.host());
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return {static_cast<int>(res.result_int()), res.body()};
}

}  // namespace

HttpReply HttpGet(const ServerProcess& server, const std::string& target) {
  return Http(server, http::verb::get, target);
}

HttpReply HttpDelete(const ServerProcess& server, const std::string& target) {
  return Http(server, http::verb::delete_, target);
}

bool WaitForHttp(const ServerProcess& server, const std::string& target,
                 const std::string& text, std::chrono::milliseconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (HttpGet(server, target).body.find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace locktopus::e2e
