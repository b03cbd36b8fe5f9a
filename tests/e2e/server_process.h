// Starts the real locktopus binary on a free loopback port for end-to-end
// tests, and a small synchronous Beast client that talks to it, writing and
// expecting frames through the wire codec.
//
// SERVER_ADDRESS=host:port runs the tests against a server someone else
// started (directly or through a proxy): a ServerProcess without flags then
// stands for that server and starts nothing. A test that needs a server of
// its own (flags, signals, its log) begins with
// LOCKTOPUS_NEEDS_OWN_SERVER("why"), which skips it then. That server keeps
// the state of every earlier test and run: take namespaces from UniqueNs().

#ifndef LOCKTOPUS_TESTS_E2E_SERVER_PROCESS_H_
#define LOCKTOPUS_TESTS_E2E_SERVER_PROCESS_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/types.h"
#include "wire/codec.h"

namespace locktopus::e2e {

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
};

// The server named by SERVER_ADDRESS, or nullopt when it is unset. A
// malformed SERVER_ADDRESS throws.
const std::optional<Endpoint>& SharedServer();

// Skips the calling test when SERVER_ADDRESS is set; `why` (a string
// literal) says what the test needs a server of its own for.
#define LOCKTOPUS_NEEDS_OWN_SERVER(why)                 \
  do {                                                  \
    if (::locktopus::e2e::SharedServer()) {             \
      GTEST_SKIP() << "needs a server of its own (" why \
                      "); SERVER_ADDRESS is set";       \
    }                                                   \
  } while (0)

// A namespace no other test of this run or of an earlier one uses.
std::string UniqueNs(const std::string& prefix = "ns");

// The server binary, run with `-H 127.0.0.1 -p 0 --port-file FILE` and the
// given flags; FILE is in a fresh temporary directory, removed once the port
// is read from it. The constructor returns once the server listens, and
// throws if it does not within 20 s or exits first. With SERVER_ADDRESS set
// it starts nothing and stands for that server; flags then throw (the test
// should have called LOCKTOPUS_NEEDS_OWN_SERVER), and so do Signal,
// WaitExit and WaitForLog, which need the process.
class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> flags = {});
  ~ServerProcess();  // kills the server if it still runs

  const std::string& host() const { return host_; }
  std::uint16_t port() const { return port_; }

  void Signal(int signal) const;
  // The exit code if the server exits within `patience`, or nullopt. Once
  // it has returned a code, Log() holds everything the server wrote.
  std::optional<int> WaitExit(std::chrono::milliseconds patience);
  // SIGSTOP, then waits until every thread of the server has stopped: a
  // thread that is running may go on for a while after the signal is sent.
  // False after `patience`. SIGCONT resumes it.
  bool Pause(std::chrono::milliseconds patience) const;

  // Everything the server has logged so far.
  std::string Log() const;
  // Waits until the log contains `text`; false after `patience`.
  bool WaitForLog(const std::string& text, std::chrono::milliseconds patience);

 private:
  // Kills the server unless it has exited, and waits for the log's end.
  void Stop();

  // Throws unless this process was started here.
  void RequireOwn(const char* what) const;

  int pid_ = -1;  // -1: SERVER_ADDRESS's server, not started here
  int exit_code_ = -1;
  std::string host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  std::thread reader_;
  mutable std::mutex mu_;
  std::string log_;
};

// One WebSocket client on /v1. Reads time out after a few seconds, so a
// missing answer fails the test instead of hanging it.
class Client {
 public:
  Client(const ServerProcess& server, const std::string& ns,
         const std::string& query = "");
  ~Client();

  void Send(const std::string& text);
  // A lock request, as the codec writes it.
  void Lock(const std::vector<Resource>& resources);
  // {"action":"lock","resources":<resources_json>} with the JSON as given:
  // for frames the codec never writes (other spellings, malformed input).
  void Lock(const std::string& resources_json);
  void Release();

  // The next text frame; nullopt if the connection closed (see close_code)
  // or nothing came within `patience`. close_code is the server's close
  // code, -1 after a failed read, -2 after one given up on (no read works
  // after either).
  std::optional<std::string> Read(
      std::chrono::milliseconds patience = std::chrono::seconds(10));
  int close_code() const { return close_code_; }

  // Closes the TCP connection without a WebSocket close: a crashed client.
  void Drop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int close_code_ = 0;
};

// An answer frame as the server writes it (the codec's FormatAnswer):
// {"id":"ID","action":"ACTION","state":"STATE"}.
std::string Answer(LockId id, wire::Action action, wire::ConnState state);
// The three answers, and a write resource, as the tests spell them.
inline std::string Acquired(LockId id) {
  return Answer(id, wire::Action::kLock, wire::ConnState::kAcquired);
}
inline std::string Enqueued(LockId id) {
  return Answer(id, wire::Action::kLock, wire::ConnState::kEnqueued);
}
inline std::string Ready(LockId id) {
  return Answer(id, wire::Action::kRelease, wire::ConnState::kReady);
}
inline Resource Write(Path path) { return {Access::kWrite, std::move(path)}; }

struct HttpReply {
  int status = 0;
  std::string body;
};
// One HTTP GET, or DELETE; status 0 if the connection was refused.
HttpReply HttpGet(const ServerProcess& server, const std::string& target);
HttpReply HttpDelete(const ServerProcess& server, const std::string& target);

// Polls `target` until its body contains `text`; false after `patience`.
bool WaitForHttp(const ServerProcess& server, const std::string& target,
                 const std::string& text, std::chrono::milliseconds patience);

}  // namespace locktopus::e2e

#endif  // LOCKTOPUS_TESTS_E2E_SERVER_PROCESS_H_
