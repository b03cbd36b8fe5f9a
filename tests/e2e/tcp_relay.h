// A TCP relay between a client and the server under test, whose
// connections a test cuts as a failing network would (ctl_lock_test.cc,
// client_test.cc).

#ifndef LOCKTOPUS_TESTS_E2E_TCP_RELAY_H_
#define LOCKTOPUS_TESTS_E2E_TCP_RELAY_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace locktopus::e2e {

// A TCP relay on a loopback port to `port`: each connection accepted is
// relayed to a new connection to `port`, byte for byte, until Cut() closes
// them all at once, as a network that fails between the two sides would.
// Both sides then see their connection end; neither sees a WebSocket close.
// Refuse(true) keeps the network down for new connections too. Pause(true)
// fails it silently instead: nothing is forwarded, on any connection, new
// ones included, but every socket stays open, so neither side sees an end
// (a half-open connection); Pause(false) forwards what waited.
class TcpRelay {
 public:
  explicit TcpRelay(std::uint16_t port) : target_(port) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (listener_ < 0 ||
        bind(listener_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        listen(listener_, 16) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size) !=
            0) {
      throw std::runtime_error("relay: cannot listen");
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~TcpRelay() {
    paused_ = false;
    ::shutdown(listener_, SHUT_RDWR);  // wakes the blocked accept
    acceptor_.join();
    Cut();
    for (std::thread& pump : pumps_) pump.join();
    for (int fd : fds_) close(fd);
    close(listener_);
  }
  std::uint16_t port() const { return port_; }

  void Cut() {
    std::lock_guard lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }

  // While refusing, each connection accepted is closed at once: a network
  // still down for whoever connects again.
  void Refuse(bool refuse) { refusing_ = refuse; }

  void Pause(bool pause) { paused_ = pause; }

 private:
  void Accept() {
    for (;;) {
      const int in = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (in < 0) return;
      if (refusing_) {
        close(in);
        continue;
      }
      const int out = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(target_);
      if (connect(out, reinterpret_cast<sockaddr*>(&address), sizeof address) !=
          0) {
        close(in);
        close(out);
        continue;
      }
      std::lock_guard lock(mu_);
      fds_.push_back(in);
      fds_.push_back(out);
      pumps_.emplace_back([this, in, out] { Pump(in, out); });
    }
  }
  // Copies both ways until either side ends, then ends both; while paused,
  // reads nothing.
  void Pump(int a, int b) {
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    char buffer[16384];
    for (;;) {
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (paused_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      bool done = false;
      for (int i = 0; i < 2 && !done; ++i) {
        if (fds[i].revents == 0) continue;
        const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
        done = n <= 0 || write(fds[1 - i].fd, buffer, n) != n;
      }
      if (done) break;
    }
    ::shutdown(a, SHUT_RDWR);
    ::shutdown(b, SHUT_RDWR);
  }

  std::uint16_t target_;
  std::uint16_t port_ = 0;
  int listener_ = -1;
  std::atomic<bool> refusing_{false};
  std::atomic<bool> paused_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;  // closed by the destructor, after the pumps
  std::vector<std::thread> pumps_;
};

}  // namespace locktopus::e2e

#endif  // LOCKTOPUS_TESTS_E2E_TCP_RELAY_H_
