// The Locktopus client: take locks on a Locktopus server without knowing
// its wire format (docs/protocol.md).
//
//   locktopus::client::Client
//   client("ws://127.0.0.1:9009/v1?namespace=billing");
//   {
//     locktopus::client::LockGuard guard(client,
//                                        {locktopus::client::Write({"users",
//                                        "42"})});
//     Store(data, guard.fencing_token());   // acquired here
//   }                                       // released here
//
// A Client is one WebSocket connection to one namespace. The protocol lets
// a connection hold one lock at a time, so a Client has at most one live
// Lock; take concurrent locks through several Clients.
//
// Fencing tokens. Every lock gets its namespace's next ID (1, 2, 3, ...),
// and IDs are never reused while the server runs. Lock::fencing_token()
// is that ID: pass it along with every write the lock protects, and let the
// storage refuse a write whose token is smaller than one it has seen, so
// that a holder that stalled past its lock's loss cannot overwrite newer
// data. (A standalone server without --state-dir starts IDs from 1 again
// after a restart; with --state-dir, or in HA mode, IDs never go back.)
//
// Errors are exceptions from errors.h: HttpError (refused handshake, with
// the server's status and body), ProtocolError (with the server's reason),
// ConnectionError (cannot connect, or the connection dropped). After any of
// them the Client is unusable; make a new one. (Exceptions rather than
// error values, because LockGuard's constructor must be able to fail.)
//
// Silence. A server that answers nothing may be paused, or cut off from this
// client, and in HA mode its group may move on without it; the server keeps
// a lock only for its abandon timeout once it has given up on the
// connection. So a Client pings the server itself (SilenceRuleFor(address)
// says how often), and counts the connection lost, and its lock with it,
// once its last proof of life (last_heard()) is older than silence_limit():
// the abandon timeout less a margin of a fifth of it, at least 200 ms. From
// then on alive() returns false and every call throws ConnectionError,
// wait() included, which so never waits on a silent server for longer. Set
// ServerAddress::abandon_timeout_ms: without it the client cannot know the
// server's default, and counts as silence only a ping left unanswered for a
// whole ping_interval (10 s by default).
//
// Sessions (ServerAddress::session, or session=new in the URL; off by
// default, and then nothing in this paragraph applies: the connection is
// the session). The server then gives the connection a session, whose
// window is the abandon timeout it sends with it, and the lock belongs to
// the session. When the connection drops (any end but those below), the
// Client reconnects and resumes the session: same lock, same ID (so the
// same fencing token), same place in the queue. It retries with backoff
// (100 ms, doubling up to 2 s; an HTTP 429 or 5xx refusal is retried too)
// and counts the window from its last proof of life, last_heard(), not from
// when it noticed the drop: it counts the lock lost once last_heard() is
// silence_limit() old, the silence rule above with the server's abandon
// timeout, well before the server's own window ends. A connection that goes
// silent without ending (a half-open TCP connection, a relay that stopped
// forwarding, a paused server) is given up earlier, once its last proof of
// life is half the silence limit old (SilenceRule::suspect; a healthy one
// is pinged often enough never to get there), and the session resumed on a
// new one in the half of the window that is left. A request in flight at the
// drop (lock(), release()) is settled by what the resumed session holds: taken,
// or sent again. While the Client resumes, calls wait for the outcome; alive()
// waits at most its `watch` and returns true meanwhile (the lock still stands),
// unless there is no background thread (ping_interval 0), where it resumes
// inline. The session, and its lock, are lost (alive() false, every call
// throws) when the window passes; when the server says the session is gone
// (close 4410); when another connection took it over (4409); when an operator
// ended the lock (4000, as without a session); when the resumed session holds
// no lock while this Client had one; or on any other refusal or protocol error.
// on_session_event() tells the application as it happens.
//
// Thread safety: a Client and the Lock it returned may be used from any
// thread: every call takes the Client's internal mutex, so calls on one
// Client run one at a time (a call waits while another thread's wait()
// blocks). Distinct Clients share nothing. The server's messages are read
// inside lock(), wait(), wait_for(), release() and alive(); between calls
// one background thread per Client wakes when a ping is due (at most every
// ping_interval, address.h) to ping the server and answer its keep-alive
// pings, so that a lock held for hours without a call is neither dropped as
// idle nor kept on a silent server. last_heard() and silence_limit() take
// no lock that a call holds for long. A Lock shares its Client's connection and
// may outlive the Client object: the connection closes when both are gone.

#ifndef LOCKTOPUS_CLIENT_INCLUDE_LOCKTOPUS_CLIENT_H_
#define LOCKTOPUS_CLIENT_INCLUDE_LOCKTOPUS_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "locktopus/address.h"
#include "locktopus/errors.h"

namespace locktopus::client {

enum class LockType { kRead, kWrite };

// One resource of a lock: a path of segments ({} is the whole namespace)
// and whether it is read (shared) or written (exclusive).
struct Resource {
  LockType type = LockType::kWrite;
  std::vector<std::string> path;
};
inline Resource Read(std::vector<std::string> path) {
  return {LockType::kRead, std::move(path)};
}
inline Resource Write(std::vector<std::string> path) {
  return {LockType::kWrite, std::move(path)};
}

class Client;

// Where a Client's session stands (see "Sessions" above).
enum class SessionState {
  kNone,      // no session: ServerAddress::session is false
  kAttached,  // the session speaks through the current connection
  kResuming,  // the connection dropped; reconnecting within the window
  kLost,      // gone, and its lock with it; the Client is unusable
};

// What on_session_event() reports: a move into kResuming, back to
// kAttached (kResumed), or into kLost.
enum class SessionEvent { kResuming, kResumed, kLost };

// Called with the event and a sentence for a log: why the connection
// dropped (kResuming), what the resumed session holds (kResumed), why the
// session is lost (kLost).
using SessionListener =
    std::function<void(SessionEvent event, const std::string& detail)>;

// A lock taken by Client::lock(). Move-only. Destroying a Lock that is
// still live releases it (errors swallowed); call release() to see them.
class Lock {
 public:
  enum class State { kEnqueued, kAcquired, kReleased };

  Lock(Lock&&) noexcept;
  Lock& operator=(Lock&&) noexcept;
  ~Lock();

  // The lock ID, a decimal number as the server sent it; also the fencing
  // token (see above).
  std::uint64_t fencing_token() const { return id_; }
  std::uint64_t id() const { return id_; }

  // True if the server granted the lock at once (lock() answered
  // "acquired"), false if it was enqueued.
  bool acquired_at_once() const { return acquired_at_once_; }

  // The state as last heard from the server; no I/O.
  State state() const;
  bool acquired() const { return state() == State::kAcquired; }

  // Blocks until the lock is acquired. Returns at once if it is.
  // Throws ProtocolError / ConnectionError, or std::logic_error if the
  // lock was released.
  void wait();

  // Waits at most `timeout` for the lock. Returns true once acquired. On
  // timeout it cancels the lock with a release (consuming an acquisition
  // notice that crossed it) and returns false; the lock is then released
  // and the Client can lock again.
  bool wait_for(std::chrono::milliseconds timeout);

  // Releases the lock (cancels it if enqueued) and waits for the server's
  // answer. No-op if already released.
  void release();

 private:
  friend class Client;
  struct Shared;
  Lock(std::shared_ptr<Shared> shared, std::uint64_t id, bool acquired);

  std::shared_ptr<Shared> shared_;
  std::uint64_t id_ = 0;
  bool acquired_at_once_ = false;
};

class Client {
 public:
  // Connects and completes the WebSocket handshake with /v1 for
  // address.ns. Throws HttpError if the server refuses the handshake,
  // ConnectionError if it cannot be reached, std::invalid_argument if
  // address.ns is empty.
  explicit Client(const ServerAddress& address);
  // Same, from a URL (see ParseUrl).
  explicit Client(std::string_view url);
  Client(std::string host, std::uint16_t port, std::string ns,
         std::optional<std::uint64_t> abandon_timeout_ms = std::nullopt);

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();  // closes the connection; the server then treats a live lock
              // as dropped (cancelled if enqueued, abandoned if acquired)

  // Sends a lock request for `resources` (non-empty) and returns when the
  // server answers: the Lock says whether it was acquired at once or
  // enqueued. Throws std::logic_error if this Client's previous Lock is
  // still live, std::invalid_argument if `resources` is empty.
  Lock lock(const std::vector<Resource>& resources);

  // Watches the connection for up to `watch`, reading what the server
  // sends. Returns false once the connection is lost (dropped, silent for
  // longer than silence_limit(), or the server sent something that does not
  // belong), true otherwise. Never throws. Useful while holding a lock to
  // notice that the server has lost track of us: once it returns false the
  // lock must be taken as gone.
  bool alive(std::chrono::milliseconds watch = std::chrono::milliseconds(0));

  // The last proof of life from the server: when this client sent the last
  // ping the server has answered (a pong carries the time its ping left, so
  // that a pong read late never makes the proof look younger than it is),
  // or the end of the handshake.
  std::chrono::steady_clock::time_point last_heard() const;

  // SilenceRuleFor(address).limit: once last_heard() is older than this, the
  // connection counts as lost (see "Silence" above). With a session, the
  // rule of the abandon timeout the server sent.
  std::chrono::milliseconds silence_limit() const;

  // The abandon timeout in force: the one the server sent with the session,
  // else the address's; nullopt if neither says.
  std::optional<std::chrono::milliseconds> abandon_timeout() const;

  // Where the session stands; kNone without one. Takes no lock.
  SessionState session_state() const;

  // Sets the function told of the session's events (replacing any earlier
  // one; null: none). It runs on the thread that noticed (a call, or the
  // background thread) with the Client's mutex held: keep it short, and
  // call nothing of this Client or its Lock in it but last_heard(),
  // silence_limit(), abandon_timeout() and session_state().
  void on_session_event(SessionListener listener);

 private:
  std::shared_ptr<Lock::Shared> shared_;
};

// Takes a lock and waits for it in its constructor; releases it when it
// goes out of scope. Throws what Client::lock() and Lock::wait() throw.
class LockGuard {
 public:
  LockGuard(Client& client, const std::vector<Resource>& resources)
      : lock_(client.lock(resources)) {
    lock_.wait();
  }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;
  ~LockGuard() = default;  // Lock's destructor releases

  std::uint64_t fencing_token() const { return lock_.fencing_token(); }
  Lock& lock() { return lock_; }

 private:
  Lock lock_;
};

}  // namespace locktopus::client

#endif  // LOCKTOPUS_CLIENT_INCLUDE_LOCKTOPUS_CLIENT_H_
