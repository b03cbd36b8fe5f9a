// Client and Lock: the lock conversation of docs/protocol.md over a
// Connection, and the session that outlives one (client.h, "Sessions").

#include "locktopus/client.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "client/connection.h"
#include "wire/codec.h"

namespace locktopus::client {
using detail::Connection;
using wire::Action;
using wire::ConnState;
using Clock = Connection::Clock;
using std::chrono::milliseconds;

namespace {

// The engine's value types, which the wire codec writes.
std::vector<locktopus::Resource> ToWire(
    const std::vector<Resource>& resources) {
  std::vector<locktopus::Resource> out;
  out.reserve(resources.size());
  for (const Resource& r : resources) {
    out.push_back(
        {.access = r.type == LockType::kRead ? Access::kRead : Access::kWrite,
         .path = r.path});
  }
  return out;
}

// The close codes that end a session rather than only its connection
// (docs/protocol.md): a protocol error, an operator's release of the lock,
// the session taken over by another connection, the session gone.
constexpr int kClosedForProtocolError = 3000;
constexpr int kClosedByOperator = 4000;
constexpr int kClosedSessionMoved = 4409;
constexpr int kClosedSessionGone = 4410;

// The first backoff between resume attempts, and the longest.
constexpr milliseconds kFirstBackoff(100);
constexpr milliseconds kLongestBackoff(2000);

std::string Describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

}  // namespace

// The server's session frames are read by the wire codec, which also
// writes them on the server's side.
using wire::ParseSessionFrame;
using wire::SessionFrame;

// What a Client and its Locks share: the connection and the one lock, and
// the session, if any, that the connection speaks for.
struct Lock::Shared {
  std::mutex mu;
  const ServerAddress address;
  // Replaced when a session is resumed: under `mu`, and `view_mu` for the
  // readers that take no long lock (last_heard, silence_limit).
  std::shared_ptr<Connection> connection;
  mutable std::mutex view_mu;

  std::uint64_t id = 0;            // the live lock's ID, if any
  State state = State::kReleased;  // the live lock's state
  // The request whose answer has not come yet, and its frame: sent again
  // after a resume if the server had not taken it.
  enum class Pending { kNone, kLock, kRelease };
  Pending pending = Pending::kNone;
  std::string pending_frame;

  std::string token;  // the session's; empty without one
  std::atomic<SessionState> session{SessionState::kNone};
  // The abandon timeout in force (the session's, else the address's), for
  // abandon_timeout() on any thread; -1: not known.
  std::atomic<std::int64_t> window_ms{-1};
  std::exception_ptr lost;  // why, once kLost
  SessionListener listener;
  std::condition_variable settled;  // a resume ended, either way

  // The keeper pings, and answers pings, between calls (see client.h): it
  // wakes when the connection has something to do, and resumes a dropped
  // session.
  std::condition_variable wake;
  bool stopping = false;
  std::thread keeper;

  explicit Shared(const ServerAddress& a)
      : address(a), connection(std::make_shared<Connection>(a)) {
    SetWindow(address.abandon_timeout_ms);
    if (address.session) Open();
    if (address.ping_interval.count() > 0) {
      keeper = std::thread([this] { Keep(); });
    }
  }
  ~Shared() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    wake.notify_all();
    if (keeper.joinable()) keeper.join();
  }

  void Keep() {
    std::unique_lock lock(mu);
    while (!stopping) {
      if (Dropped()) {
        try {
          Resume(lock, connection->failure());
        } catch (...) {  // lost: the calls say so
        }
        continue;
      }
      if (!wake.wait_until(lock, connection->NextPoll(),
                           [this] { return stopping || Dropped(); })) {
        connection->Poll();
      }
    }
  }

  void SetWindow(std::optional<std::uint64_t> ms) {
    // Capped where no server's limit reaches, so that time adds up.
    if (ms)
      window_ms =
          static_cast<std::int64_t>(std::min<std::uint64_t>(*ms, 1ULL << 53));
  }
  std::optional<std::uint64_t> Window() const {
    const std::int64_t ms = window_ms;
    if (ms < 0) return std::nullopt;
    return static_cast<std::uint64_t>(ms);
  }

  // The address of the session's connections: with its window, so that
  // their silence rule is the window's.
  ServerAddress SessionAddress() const {
    ServerAddress a = address;
    a.abandon_timeout_ms = Window();
    return a;
  }

  // Reads the server's first frame, which opens the session.
  void Open() {
    const std::optional<std::string> text =
        connection->Next(Clock::now() + address.connect_timeout);
    const std::optional<SessionFrame> frame =
        text ? ParseSessionFrame(*text) : std::nullopt;
    if (!frame || frame->state != SessionFrame::kNew || frame->token.empty()) {
      const std::string why =
          text ? "it answered " + *text : std::string("it sent nothing");
      ConnectionError error(
          "the server opened no session (" + why +
          "): does it serve sessions? (without ServerAddress::session, or "
          "locktopusctl's --no-session, none is asked for)");
      connection->Fail(std::make_exception_ptr(error));
      throw error;
    }
    token = frame->token;
    SetWindow(frame->window_ms);
    connection->SetRule(SilenceRuleFor(SessionAddress()));
    session = SessionState::kAttached;
  }

  void Tell(SessionEvent event, const std::string& detail) {
    if (listener) listener(event, detail);
  }

  // The session's connection has failed, and nobody resumes it yet.
  bool Dropped() const {
    return session == SessionState::kAttached && connection->failure();
  }

  bool Live(std::uint64_t lock_id) const {
    return id == lock_id && state != State::kReleased;
  }

  // Ends the session, and its lock, with `error`, which every later call
  // throws; throws it.
  [[noreturn]] void Lose(std::exception_ptr error) {
    if (session != SessionState::kLost) {
      lost = error;
      session = SessionState::kLost;
      connection->Fail(error);
      Tell(SessionEvent::kLost, Describe(error));
      settled.notify_all();
    }
    std::rethrow_exception(lost);
  }

  // An answer that is not `expected`: the connection cannot go on.
  [[noreturn]] void Unexpected(const std::string& frame) {
    ProtocolError error("unexpected message from server: " + frame);
    connection->Fail(std::make_exception_ptr(error));
    if (session != SessionState::kNone) Lose(std::make_exception_ptr(error));
    throw error;
  }

  // `frame` as an answer; anything else ends the connection, as Unexpected.
  // (A protocol error's frame never gets here: Connection::Next throws it.)
  wire::Answer Parse(const std::string& frame) {
    const std::optional<wire::ServerMessage> message =
        wire::ParseServerMessage(frame);
    const wire::Answer* answer =
        message ? std::get_if<wire::Answer>(&*message) : nullptr;
    if (answer == nullptr) Unexpected(frame);
    return *answer;
  }

  // Takes one frame from the server as the conversation expects it: the
  // answer to the pending request, or an enqueued lock's acquisition
  // notice. An enqueued lock's notice may cross a release on the wire
  // (docs/protocol.md): it arrives before the release's answer.
  void Handle(const std::string& frame) {
    const wire::Answer answer = Parse(frame);
    if (state == State::kEnqueued &&
        answer == wire::Answer{id, Action::kLock, ConnState::kAcquired}) {
      state = State::kAcquired;
      return;
    }
    if (pending == Pending::kLock && answer.action == Action::kLock &&
        answer.state != ConnState::kReady) {
      id = answer.id;
      state = answer.state == ConnState::kAcquired ? State::kAcquired
                                                   : State::kEnqueued;
      pending = Pending::kNone;
      return;
    }
    if (pending == Pending::kRelease &&
        answer == wire::Answer{id, Action::kRelease, ConnState::kReady}) {
      state = State::kReleased;
      pending = Pending::kNone;
      return;
    }
    Unexpected(frame);
  }

  // Whether a connection that failed with `error` can be resumed.
  bool Resumable(const std::exception_ptr& error) const {
    try {
      std::rethrow_exception(error);
    } catch (const ConnectionError&) {
      const int code = connection->close_code();
      return code != kClosedForProtocolError && code != kClosedByOperator &&
             code != kClosedSessionMoved && code != kClosedSessionGone;
    } catch (...) {
      return false;
    }
  }

  // The connection failed with `error`. Without a session, throws it. With
  // one, waits until it is resumed, or throws once it is lost; returns
  // false if `deadline` comes first. The background thread resumes it when
  // there is one (so that a call with a deadline keeps it), else this call.
  bool Recover(std::unique_lock<std::mutex>& lock, std::exception_ptr error,
               std::optional<Clock::time_point> deadline) {
    if (session == SessionState::kNone) std::rethrow_exception(error);
    if (session == SessionState::kLost) std::rethrow_exception(lost);
    const bool by_keeper =
        keeper.joinable() && std::this_thread::get_id() != keeper.get_id();
    if (by_keeper || session == SessionState::kResuming) {
      wake.notify_all();
      const auto over = [this] {
        return session != SessionState::kResuming && !Dropped();
      };
      if (!deadline) {
        settled.wait(lock, over);
      } else if (!settled.wait_until(lock, *deadline, over)) {
        return false;
      }
      if (session == SessionState::kLost) std::rethrow_exception(lost);
      return true;
    }
    Resume(lock, std::move(error));
    return true;
  }

  // Resumes the session whose connection failed with `error`, releasing
  // the mutex while it connects and between attempts; throws once lost.
  void Resume(std::unique_lock<std::mutex>& lock, std::exception_ptr error) {
    if (!Resumable(error)) Lose(error);
    session = SessionState::kResuming;
    Tell(SessionEvent::kResuming, Describe(error));
    // A new connection that fails at once (a request sent again) starts
    // over, with its own proof of life.
    while (error) {
      if (!Resumable(error)) Lose(error);
      error = Reattach(lock,
                       connection->last_heard() + connection->silence_limit());
    }
    session = SessionState::kAttached;
    Tell(SessionEvent::kResumed,
         state == State::kReleased
             ? "it holds no lock"
             : "it holds lock " + std::to_string(id) +
                   (state == State::kAcquired ? ", acquired" : ", enqueued"));
    settled.notify_all();
  }

  // Connects again with the session's token until the server resumes it or
  // `lost_at` passes, and adopts the new connection. Returns its failure if
  // it failed at once, null otherwise; throws once the session is lost.
  std::exception_ptr Reattach(std::unique_lock<std::mutex>& lock,
                              Clock::time_point lost_at) {
    milliseconds backoff = kFirstBackoff;
    std::string last = "no attempt";
    for (;;) {
      const auto now = Clock::now();
      if (stopping) throw ConnectionError("the client is closing");
      if (now >= lost_at) {
        Lose(std::make_exception_ptr(ConnectionError(
            "the session could not be resumed before its window passed (" +
            std::to_string(connection->silence_limit().count()) +
            " ms after the server was last heard from): counted lost, and "
            "its lock with it; last attempt: " +
            last)));
      }
      ServerAddress a = SessionAddress();
      a.connect_timeout = std::min(
          a.connect_timeout, std::chrono::ceil<milliseconds>(lost_at - now));
      std::shared_ptr<Connection> fresh;
      std::optional<std::string> text;
      std::exception_ptr gone;  // set when the server says the session is
      bool retry = true;
      lock.unlock();
      try {
        fresh = std::make_shared<Connection>(a, token);
        text = fresh->Next(lost_at);
        if (!text) last = "no answer to the resume";
      } catch (const HttpError& e) {
        retry = e.status() == 429 || e.status() >= 500;
        last = e.what();
        if (!retry) gone = std::current_exception();
      } catch (const ProtocolError& e) {
        last = e.what();
        gone = std::make_exception_ptr(
            ConnectionError("the session is gone: " + e.reason()));
      } catch (const std::exception& e) {
        last = e.what();
        if (fresh && fresh->close_code() == kClosedSessionGone) {
          gone = std::make_exception_ptr(
              ConnectionError("the session is gone: " + last));
        }
      }
      lock.lock();
      if (gone) Lose(gone);
      if (text) {
        const std::optional<SessionFrame> frame = ParseSessionFrame(*text);
        if (!frame || frame->state != SessionFrame::kResumed) {
          Lose(std::make_exception_ptr(ProtocolError(
              "unexpected answer to a session's resume: " + *text)));
        }
        return Adopt(std::move(fresh), *frame);
      }
      wake.wait_until(lock, std::min(Clock::now() + backoff, lost_at),
                      [this] { return stopping; });
      backoff = std::min(2 * backoff, kLongestBackoff);
    }
  }

  // Makes `fresh`, which resumed the session as `frame` says, the
  // connection, and settles with it what the old one left open: the lock's
  // state, and the pending request (taken, or sent again). Returns the new
  // connection's failure if sending failed, null otherwise; throws if the
  // session lost the lock this Client holds.
  std::exception_ptr Adopt(std::shared_ptr<Connection> fresh,
                           const SessionFrame& frame) {
    SetWindow(frame.window_ms);
    fresh->SetRule(SilenceRuleFor(SessionAddress()));
    {
      std::lock_guard view(view_mu);
      connection = std::move(fresh);
    }
    const bool held = frame.lock != ConnState::kReady;
    const State server_state = frame.lock == ConnState::kAcquired
                                   ? State::kAcquired
                                   : State::kEnqueued;
    bool send = false;
    if (pending == Pending::kLock) {
      if (held) {  // taken: its answer was lost with the old connection
        id = frame.id;
        state = server_state;
        pending = Pending::kNone;
      } else {
        send = true;
      }
    } else if (held && (state == State::kReleased || frame.id != id)) {
      Lose(std::make_exception_ptr(
          ProtocolError("the resumed session holds lock " +
                        std::to_string(frame.id) + ", not this client's")));
    } else if (pending == Pending::kRelease) {
      if (held) {
        state = server_state;
        send = true;
      } else {
        state = State::kReleased;
        pending = Pending::kNone;
      }
    } else if (held) {
      state = server_state;  // an enqueued lock may have been acquired
    } else if (state != State::kReleased) {
      Lose(std::make_exception_ptr(ConnectionError(
          "lock " + std::to_string(id) +
          " is gone: the session was resumed without it (an operator "
          "released it?)")));
    }
    if (!send) return nullptr;
    try {
      connection->Send(pending_frame);
    } catch (...) {
      return std::current_exception();
    }
    return nullptr;
  }

  // Sends the pending request.
  void SendPending(std::unique_lock<std::mutex>& lock) {
    try {
      connection->Send(pending_frame);
    } catch (...) {
      Recover(lock, std::current_exception(), std::nullopt);
    }
  }

  // Reads and handles one frame, waiting until `deadline` (nullopt:
  // forever); false on timeout. A dropped session is resumed first.
  bool Step(std::unique_lock<std::mutex>& lock,
            std::optional<Clock::time_point> deadline) {
    std::optional<std::string> frame;
    try {
      frame = connection->Next(deadline);
    } catch (...) {
      return Recover(lock, std::current_exception(), deadline);
    }
    if (!frame) return false;
    Handle(*frame);
    return true;
  }

  // Sends `frame` as the pending `request` and reads until it is answered.
  void Request(std::unique_lock<std::mutex>& lock, Pending request,
               std::string frame) {
    pending = request;
    pending_frame = std::move(frame);
    SendPending(lock);
    while (pending != Pending::kNone) Step(lock, std::nullopt);
  }

  // Reads until the acquisition notice or `deadline`; true once acquired.
  bool AwaitAcquired(std::unique_lock<std::mutex>& lock,
                     std::optional<Clock::time_point> deadline) {
    while (state == State::kEnqueued) {
      if (!Step(lock, deadline)) return false;
    }
    return state == State::kAcquired;
  }

  // Releases the lock (cancels it if enqueued) and reads the answer.
  void Release(std::unique_lock<std::mutex>& lock) {
    Request(lock, Pending::kRelease, std::string(wire::FormatRelease()));
  }
};

Lock::Lock(std::shared_ptr<Shared> shared, std::uint64_t id, bool acquired)
    : shared_(std::move(shared)), id_(id), acquired_at_once_(acquired) {}

Lock::Lock(Lock&&) noexcept = default;
Lock& Lock::operator=(Lock&& other) noexcept {
  if (this != &other) {
    try {
      release();
    } catch (...) {
    }
    shared_ = std::move(other.shared_);
    id_ = other.id_;
    acquired_at_once_ = other.acquired_at_once_;
  }
  return *this;
}

Lock::~Lock() {
  try {
    release();
  } catch (...) {  // the server handles the lock as dropped
  }
}

Lock::State Lock::state() const {
  if (!shared_) return State::kReleased;
  std::lock_guard lock(shared_->mu);
  return shared_->id == id_ ? shared_->state : State::kReleased;
}

void Lock::wait() {
  if (!shared_) throw std::logic_error("wait() on a moved-from Lock");
  std::unique_lock lock(shared_->mu);
  if (!shared_->Live(id_)) throw std::logic_error("wait() on a released lock");
  shared_->AwaitAcquired(lock, std::nullopt);
}

bool Lock::wait_for(std::chrono::milliseconds timeout) {
  if (!shared_) throw std::logic_error("wait_for() on a moved-from Lock");
  const auto deadline = Clock::now() + timeout;
  std::unique_lock lock(shared_->mu);
  if (!shared_->Live(id_)) {
    throw std::logic_error("wait_for() on a released lock");
  }
  if (shared_->AwaitAcquired(lock, deadline)) return true;
  shared_->Release(lock);
  return false;
}

void Lock::release() {
  if (!shared_) return;
  std::unique_lock lock(shared_->mu);
  if (shared_->Live(id_)) shared_->Release(lock);
}

Client::Client(const ServerAddress& address) {
  if (address.ns.empty()) {
    throw std::invalid_argument("a namespace is required to lock");
  }
  shared_ = std::make_shared<Lock::Shared>(address);
}

Client::Client(std::string_view url) : Client(ParseUrl(url)) {}

Client::Client(std::string host, std::uint16_t port, std::string ns,
               std::optional<std::uint64_t> abandon_timeout_ms)
    : Client(ServerAddress{.host = std::move(host),
                           .port = port,
                           .ns = std::move(ns),
                           .abandon_timeout_ms = abandon_timeout_ms}) {}

Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Lock Client::lock(const std::vector<Resource>& resources) {
  if (resources.empty()) {
    throw std::invalid_argument("a lock needs at least one resource");
  }
  if (!shared_) throw std::logic_error("lock() on a moved-from Client");
  std::unique_lock lock(shared_->mu);
  if (shared_->state != Lock::State::kReleased) {
    throw std::logic_error(
        "this Client's lock is still live: release it first, or use another "
        "Client");
  }
  shared_->Request(lock, Lock::Shared::Pending::kLock,
                   wire::FormatLock(ToWire(resources)));
  return Lock(shared_, shared_->id, shared_->state == Lock::State::kAcquired);
}

bool Client::alive(std::chrono::milliseconds watch) {
  if (!shared_) return false;
  std::unique_lock lock(shared_->mu);
  try {
    // Only an enqueued lock's acquisition notice is expected; Handle takes
    // anything else for the end of the connection.
    const auto deadline = Clock::now() + watch;
    while (shared_->Step(lock, deadline)) {
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::chrono::steady_clock::time_point Client::last_heard() const {
  if (!shared_) return Clock::time_point();
  std::lock_guard view(shared_->view_mu);
  return shared_->connection->last_heard();
}

std::chrono::milliseconds Client::silence_limit() const {
  if (!shared_) return std::chrono::milliseconds(0);
  std::lock_guard view(shared_->view_mu);
  return shared_->connection->silence_limit();
}

std::optional<std::chrono::milliseconds> Client::abandon_timeout() const {
  if (!shared_ || shared_->window_ms < 0) return std::nullopt;
  return std::chrono::milliseconds(shared_->window_ms.load());
}

SessionState Client::session_state() const {
  return shared_ ? shared_->session.load() : SessionState::kNone;
}

void Client::on_session_event(SessionListener listener) {
  if (!shared_)
    throw std::logic_error("on_session_event() on a moved-from Client");
  std::lock_guard lock(shared_->mu);
  shared_->listener = std::move(listener);
}

}  // namespace locktopus::client
