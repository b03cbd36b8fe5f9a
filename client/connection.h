// One WebSocket connection to /v1, driven synchronously on its own
// io_context: a read is always pending, and the context runs only inside
// these calls, so a timed wait never has to cancel (and so break) a
// WebSocket read. Frames arrive in order into an inbox.
//
// It keeps the silence rule (SilenceRuleFor, client.h's "Silence"): it
// pings the server every ping_every, each ping carrying the time it left,
// which its pong brings back; the latest such time is the last proof of
// life. Next() and Poll() send the pings that are due, and fail the
// connection once that proof is older than the limit, or than the earlier
// suspect point of a session's connection (the Client then resumes the
// session on a new one, until the limit).
//
// Thread safety: none, but for last_heard() and silence_limit(), which any
// thread may call; the Client serializes every other call under its mutex.

#ifndef LOCKTOPUS_CLIENT_CONNECTION_H_
#define LOCKTOPUS_CLIENT_CONNECTION_H_

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "locktopus/address.h"

namespace locktopus::client::detail {

class Connection {
 public:
  using Clock = std::chrono::steady_clock;

  // Connects and shakes hands on LockTarget(address, resume_token); throws
  // HttpError or ConnectionError.
  explicit Connection(const ServerAddress& address,
                      std::string_view resume_token = {});
  ~Connection();  // a normal close (code 1000), waiting briefly for it

  // Sends one text frame. Throws the connection's failure.
  void Send(const std::string& text);

  // The next frame from the server, waiting until `deadline` (nullopt:
  // forever). Returns nullopt on timeout. A "communication error: ..." frame
  // throws ProtocolError; a dropped or closed connection throws
  // ConnectionError. Once failed, every call throws the same failure.
  std::optional<std::string> Next(std::optional<Clock::time_point> deadline);

  // Runs whatever I/O is ready, without waiting: answers the server's
  // pings, queues what arrived, then pings the server if a ping is due, or
  // fails the connection if it has been silent too long. Never throws.
  void Poll();

  // When Poll() next has something to do: a ping due, or the silence limit
  // reached. Far in the future once the connection has failed.
  Clock::time_point NextPoll() const;

  // The last proof of life (Client::last_heard), and the silence limit.
  Clock::time_point last_heard() const;
  std::chrono::milliseconds silence_limit() const;

  // Replaces the silence rule, e.g. once the server has said what the
  // abandon timeout is.
  void SetRule(const SilenceRule& rule);

  // Marks the connection failed with `error` (thrown by later calls).
  void Fail(std::exception_ptr error);

  // The failure, once failed; null before.
  std::exception_ptr failure() const;

  // The close code the server ended the connection with; 0 if it did not
  // end with the server's close frame.
  int close_code() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace locktopus::client::detail

#endif  // LOCKTOPUS_CLIENT_CONNECTION_H_
