// A fake transport for the server's connection state machine
// (server/core/connection.h), shared by its unit tests: it records what a
// Connection sends and closes with, keeps the timers it sets and the
// notices it is told of, and runs or delivers nothing until the test does.
// It is also a session's transport (server/core/session.h), recording the
// close it is asked for from another strand.

#ifndef LOCKTOPUS_TESTS_FAKE_IO_H_
#define LOCKTOPUS_TESTS_FAKE_IO_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/core/connection.h"
#include "server/core/inspect.h"
#include "server/core/lock_service.h"
#include "server/core/session.h"

namespace locktopus::testing {

// Two client frames, as the tests send them.
inline constexpr std::string_view kLockA =
    R"({"action":"lock","resources":[{"type":"write","path":["a"]}]})";
inline constexpr std::string_view kRelease = R"({"action":"release"})";

// Records what the connection sends, and runs timers when told to; as a
// session's transport (session.h), also the close of a takeover.
class FakeIo : public server::SessionTransport {
 public:
  void Send(std::string text) override { sent.push_back(std::move(text)); }
  // An `acquired` frame: its index in `sent` is kept too.
  void SendGrant(std::string text) override {
    grants.push_back(sent.size());
    sent.push_back(std::move(text));
  }
  void Close(std::uint16_t code, std::string_view reason) override {
    closed_with = code;
    close_reason = reason;
  }
  server::ha::Time Now() override { return now; }
  void After(std::chrono::milliseconds delay,
             std::function<void()> fn) override {
    timers.emplace_back(delay, std::move(fn));
  }
  void Notify(LockId id) override { notices.push_back(id); }
  void ForceReleased(LockId id) override { force_released.push_back(id); }
  void CloseSoon(std::uint16_t code, std::string reason) override {
    moved_with = code;
    moved_reason = std::move(reason);
  }

  server::ha::Time now{};  // the gate's clock

  std::vector<std::string> sent;
  std::vector<std::size_t> grants;
  int closed_with = 0;
  std::string close_reason;
  std::vector<std::pair<std::chrono::milliseconds, std::function<void()>>>
      timers;
  std::vector<LockId> notices;
  std::vector<LockId> force_released;
  int moved_with = 0;  // CloseSoon's code
  std::string moved_reason;
};

// Delivers to `connection` what its transport `io` was told, as the network
// shell does on the connection's strand: acquisitions, then force releases.
inline void Deliver(FakeIo& io, server::Connection& connection) {
  for (LockId id : std::exchange(io.notices, {})) connection.OnAcquired(id);
  for (LockId id : std::exchange(io.force_released, {})) {
    connection.OnForceReleased(id);
  }
}

// One client: a Connection to `ns` over a FakeIo of its own, which is also
// the waiter told of its locks. `config` must outlive it.
struct FakeClient {
  FakeClient(server::NamespaceHold ns, const server::ConnectionConfig& config)
      : conn(std::make_unique<server::Connection>(std::move(ns), config, *io,
                                                  io)) {}
  std::shared_ptr<FakeIo> io = std::make_shared<FakeIo>();
  std::unique_ptr<server::Connection> conn;
};

}  // namespace locktopus::testing

#endif  // LOCKTOPUS_TESTS_FAKE_IO_H_
