// Resumable sessions (docs/semantics.md "Sessions", docs/protocol.md's
// wire): a lock that belongs to a session, which a client may take over on
// a new connection, rather than to one TCP connection.
//
// A session is a Connection (connection.h) that outlives its transports.
// While a transport is attached, the session passes its frames and events
// to the Connection and the Connection's answers back to it. When the
// transport ends, the session is detached for its window (the connection's
// abandon timeout): its lock, acquired or enqueued, stays live in the
// engine exactly as before, and nothing is sent. A transport that presents
// the session's token within the window takes it over (Attach): it is told
// the lock's state in one `resumed` frame, and an older transport still
// open is closed with 4409 first. When the window passes with no resume,
// the Connection ends as a dropped connection with no abandon timeout
// (acquired: released; enqueued: cancelled) and the session is gone.
//
// Thread safety: a session's Connection is reached only under the
// session's mutex, from the strand of the transport attached at the time
// (frames, notices, its end), from the strand of a transport taking it over
// (Attach), from a window timer (while detached, nothing is sent), or from
// an operator's release. A call from a transport that no longer speaks for
// the session is dropped, or, for a notice, passed on to the one that does:
// two transports never speak for one session. Acquisition notices reach
// the session (LockHolder) from whichever thread did the step, possibly
// under another session's mutex; they take only a leaf mutex (the attached
// transport) and post to its strand, so no thread ever holds two sessions'
// mutexes. The table's mutex is never held while a session's is taken.

#ifndef LOCKTOPUS_SERVER_CORE_SESSION_H_
#define LOCKTOPUS_SERVER_CORE_SESSION_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "engine/thread_annotations.h"
#include "server/core/connection.h"
#include "server/core/ha/replication.h"
#include "server/core/inspect.h"
#include "server/core/metrics.h"

namespace locktopus::server {

inline constexpr std::uint16_t kSessionMovedCloseCode = 4409;
inline constexpr std::string_view kSessionMovedReason = "session moved";
inline constexpr std::uint16_t kSessionGoneCloseCode = 4410;
inline constexpr std::string_view kSessionGoneReason =
    "session expired: its lock is gone";

// The value of /v1's `session` parameter that opens a session.
inline constexpr std::string_view kNewSession = "new";

// The address of `peer` ("address:port"): whose failed resumes count
// together.
std::string_view PeerAddress(std::string_view peer);

// A session's token as the client holds it: `<id>.<secret>`, the ID as 16
// hex digits, the secret 256 random bits (OpenSSL's CSPRNG) in 43 base64url
// characters. Only URL-safe characters. Never logged, never shown.
struct SessionToken {
  std::uint64_t id = 0;
  std::string secret;  // the 43 characters
  std::string Text() const;
};

// A new token with a random ID and secret. Throws std::runtime_error if the
// CSPRNG fails.
SessionToken NewSessionToken();

// The token in `text`, if it has the token's shape; its secret unchecked.
std::optional<SessionToken> ParseSessionToken(std::string_view text);

// What a session needs of a transport: the ConnectionIo its Connection
// speaks through while it is attached, the LockHolder that posts notices to
// its strand, and a close from another strand (4409).
class SessionTransport : public ConnectionIo, public LockHolder {
 public:
  // Closes the transport with `code` on its own strand. Any thread.
  virtual void CloseSoon(std::uint16_t code, std::string reason) = 0;
};

class SessionTable;

class ClientSession final : public LockHolder,
                            private ConnectionIo,
                            public std::enable_shared_from_this<ClientSession> {
 public:
  // A session over a Connection to `ns`, owned by a shared_ptr (the
  // table's) from the start; use SessionTable::Create.
  static std::shared_ptr<ClientSession> Make(SessionToken token,
                                             NamespaceHold ns,
                                             ConnectionConfig config,
                                             std::weak_ptr<SessionTable> table);
  // Public for make_shared only: use Make.
  ClientSession(SessionToken token, std::string ns, ConnectionConfig config,
                std::weak_ptr<SessionTable> table);
  // A session that goes before its window has passed (its server is going
  // away) ends its lock as its window would, through no transport.
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  const SessionToken& token() const { return token_; }
  const std::string& ns() const { return ns_name_; }
  std::chrono::milliseconds window() const { return config_.abandon_timeout; }

  // `transport` (on its strand) takes the session over: an older transport
  // still attached is closed with 4409 and speaks for it no more; the
  // new one is sent the `new` frame (the first attach) or the `resumed`
  // frame with the lock's state. False, sending nothing, if the session
  // has ended (its window passed) meanwhile.
  bool Attach(const std::shared_ptr<SessionTransport>& transport,
              std::shared_ptr<const HolderInfo> holder) EXCLUDES(mu_);

  // From a transport, on its strand; dropped unless it is the attached one
  // (OnAcquired and OnForceReleased are passed on to the attached one, if
  // any; while detached, a force release applies at once).
  void OnFrame(const SessionTransport* from, std::string_view text)
      EXCLUDES(mu_);
  void OnOversizedFrame(const SessionTransport* from, std::size_t size)
      EXCLUDES(mu_);
  void OnAcquired(const SessionTransport* from, LockId id) EXCLUDES(mu_);
  void OnForceReleased(const SessionTransport* from, LockId id) EXCLUDES(mu_);
  // The attached transport has ended: the session is detached for its
  // window, whose timer `from` sets (ConnectionIo::After).
  void OnClosed(SessionTransport* from) EXCLUDES(mu_);

  // ---- Adoption (adopt.h): a session a new HA active takes over from its
  // predecessor, before any transport has attached ----

  // Makes lock `id` its connection's (Connection::Adopt).
  bool AdoptLock(LockId id, std::span<const Resource> resources,
                 const ha::Owner& owner) EXCLUDES(mu_);
  // Detaches the session, as its transport's end would, for `window` from
  // now, whose timer `after` sets; its first attach is a resume.
  void AdoptDetached(std::chrono::milliseconds window, const TimerFn& after)
      EXCLUDES(mu_);

  // LockHolder, any thread: passed on to the attached transport's strand.
  // While detached, a notice is dropped (Attach asks the engine) and a
  // force release is applied at once.
  void Notify(LockId id) override EXCLUDES(attach_mu_);
  void ForceReleased(LockId id) override EXCLUDES(mu_, attach_mu_);

 private:
  // ConnectionIo for the Connection, which calls it under mu_: the
  // attached transport's; nothing while detached.
  void Send(std::string text) override REQUIRES(mu_);
  void SendGrant(std::string text) override REQUIRES(mu_);
  void Close(std::uint16_t code, std::string_view reason) override
      REQUIRES(mu_);
  ha::Time Now() override REQUIRES(mu_);
  void After(std::chrono::milliseconds delay, std::function<void()> fn) override
      REQUIRES(mu_);

  // Detaches the session for `window` from now, whose timer `after` sets.
  void Detach(std::chrono::milliseconds window, const TimerFn& after)
      REQUIRES(mu_);
  // The window of the detachment numbered `detachment` has passed.
  void Expire(std::uint64_t detachment) EXCLUDES(mu_);
  void Count(Counter SessionCounters::*counter) const;
  void Log(std::string_view event) const;
  std::shared_ptr<SessionTransport> Attached() const EXCLUDES(attach_mu_);

  const SessionToken token_;
  const std::string ns_name_;
  const std::weak_ptr<SessionTable> table_;
  ConnectionConfig config_;  // the Connection's; holder replaced by Attach
  mutable Mutex mu_;
  std::optional<Connection> connection_ GUARDED_BY(mu_);
  SessionTransport* io_ GUARDED_BY(mu_) = nullptr;  // null while detached
  bool ended_ GUARDED_BY(mu_) = false;
  bool attached_once_ GUARDED_BY(mu_) = false;
  // Bumped by every detachment and attach: a window timer of an earlier
  // detachment finds it changed and does nothing.
  std::uint64_t detachment_ GUARDED_BY(mu_) = 0;
  mutable Mutex attach_mu_;  // a leaf: nothing is taken under it
  std::weak_ptr<SessionTransport> attached_ GUARDED_BY(attach_mu_);
};

// The server's live sessions (attached or detached), by ID, at most
// --max-sessions of them; and the failed resumes of each peer address,
// which a peer may make only so fast.
class SessionTable : public std::enable_shared_from_this<SessionTable> {
 public:
  // Failed resumes a peer may make in a burst, and how fast it earns one
  // back.
  static constexpr double kFailureBurst = 10;
  static constexpr std::chrono::milliseconds kFailureRefill{1000};
  // Peers whose failures are remembered; the stalest is forgotten first.
  static constexpr std::size_t kMaxPeers = 4096;

  // With `log` (which must outlive the table), every session's opening and
  // end is appended to it (ha/replication.h).
  SessionTable(std::size_t max_sessions, Metrics* metrics,
               ha::ChangeLog* log = nullptr)
      : max_sessions_(max_sessions), metrics_(metrics), log_(log) {}

  // A new session of namespace `ns` with the connection `config`; null when
  // --max-sessions are live.
  std::shared_ptr<ClientSession> Create(NamespaceHold ns,
                                        const ConnectionConfig& config)
      EXCLUDES(mu_);

  // A session a new HA active takes over from its predecessor (adopt.h),
  // with the token, namespace and connection `config` (its window) it had
  // there; appended to the log as opened. Never refused for
  // --max-sessions: it was live. Null if a session with its ID is live.
  std::shared_ptr<ClientSession> Adopt(SessionToken token, NamespaceHold ns,
                                       const ConnectionConfig& config)
      EXCLUDES(mu_);
  // Whether a session with token ID `id` is live.
  bool Contains(std::uint64_t id) const EXCLUDES(mu_);

  // The live session of namespace `ns` whose token `text` is, comparing the
  // secret in constant time; null if there is none (unknown, ended, wrong
  // secret, another namespace's: all alike), which counts as one failure
  // of `peer` (an IP address).
  std::shared_ptr<ClientSession> Find(std::string_view text,
                                      std::string_view ns,
                                      std::string_view peer) EXCLUDES(mu_);

  // Whether `peer` has failed so often lately that its resumes are refused
  // (429) for now; when so, `retry_after` gets how long until its next try.
  bool Limited(std::string_view peer,
               std::chrono::milliseconds* retry_after = nullptr) EXCLUDES(mu_);

  // The session has ended (its lock, if any, ended before): it is
  // forgotten.
  void Remove(std::uint64_t id) EXCLUDES(mu_);

  std::size_t live() const EXCLUDES(mu_);
  std::size_t limit() const { return max_sessions_; }
  Metrics* metrics() const { return metrics_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Failures {
    double tokens = kFailureBurst;
    Clock::time_point at;
  };
  void Refill(Failures& failures, Clock::time_point now) REQUIRES(mu_);
  // Makes the session of `token`, whose ID is not live, and logs its
  // opening.
  std::shared_ptr<ClientSession> Insert(SessionToken token, NamespaceHold ns,
                                        const ConnectionConfig& config)
      REQUIRES(mu_);

  const std::size_t max_sessions_;
  Metrics* const metrics_;
  ha::ChangeLog* const log_;
  mutable Mutex mu_;
  std::map<std::uint64_t, std::shared_ptr<ClientSession>> sessions_
      GUARDED_BY(mu_);
  std::map<std::string, Failures, std::less<>> failures_ GUARDED_BY(mu_);
};

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_SESSION_H_
