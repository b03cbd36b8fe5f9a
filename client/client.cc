// Client and Lock: the lock conversation of docs/protocol.md over a Connection.

#include "locktopus/client.h"

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

}  // namespace

// What a Client and its Locks share: the connection and the one lock.
struct Lock::Shared {
  std::mutex mu;
  Connection connection;
  std::uint64_t id = 0;            // the live lock's ID, if any
  State state = State::kReleased;  // the live lock's state

  // The keeper pings, and answers pings, between calls (see client.h): it
  // wakes when the connection has something to do.
  std::condition_variable wake;
  bool stopping = false;
  std::thread keeper;

  explicit Shared(const ServerAddress& address) : connection(address) {
    if (address.ping_interval.count() > 0) {
      keeper = std::thread([this] {
        std::unique_lock lock(mu);
        while (!wake.wait_until(lock, connection.NextPoll(),
                                [this] { return stopping; })) {
          connection.Poll();
        }
      });
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

  bool Live(std::uint64_t lock_id) const {
    return id == lock_id && state != State::kReleased;
  }

  // An answer that is not `expected`: the connection cannot go on.
  [[noreturn]] void Unexpected(const std::string& frame) {
    ProtocolError error("unexpected message from server: " + frame);
    connection.Fail(std::make_exception_ptr(error));
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

  // Reads until the acquisition notice or `deadline`; true once acquired.
  bool AwaitAcquired(std::optional<Clock::time_point> deadline) {
    while (state == State::kEnqueued) {
      std::optional<std::string> frame = connection.Next(deadline);
      if (!frame) return false;
      if (Parse(*frame) !=
          wire::Answer{id, Action::kLock, ConnState::kAcquired}) {
        Unexpected(*frame);
      }
      state = State::kAcquired;
    }
    return true;
  }

  // Sends release and reads its answer. An enqueued lock's acquisition
  // notice may cross the release on the wire (docs/protocol.md): it arrives
  // before the answer and is consumed here.
  void Release() {
    connection.Send(std::string(wire::FormatRelease()));
    for (;;) {
      const std::string frame = *connection.Next(std::nullopt);
      const wire::Answer answer = Parse(frame);
      if (state == State::kEnqueued &&
          answer == wire::Answer{id, Action::kLock, ConnState::kAcquired}) {
        state = State::kAcquired;  // crossed our release; still answered below
        continue;
      }
      if (answer != wire::Answer{id, Action::kRelease, ConnState::kReady}) {
        Unexpected(frame);
      }
      state = State::kReleased;
      return;
    }
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
  std::lock_guard lock(shared_->mu);
  if (!shared_->Live(id_)) throw std::logic_error("wait() on a released lock");
  shared_->AwaitAcquired(std::nullopt);
}

bool Lock::wait_for(std::chrono::milliseconds timeout) {
  if (!shared_) throw std::logic_error("wait_for() on a moved-from Lock");
  const auto deadline = Clock::now() + timeout;
  std::lock_guard lock(shared_->mu);
  if (!shared_->Live(id_)) {
    throw std::logic_error("wait_for() on a released lock");
  }
  if (shared_->AwaitAcquired(deadline)) return true;
  shared_->Release();
  return false;
}

void Lock::release() {
  if (!shared_) return;
  std::lock_guard lock(shared_->mu);
  if (shared_->Live(id_)) shared_->Release();
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
  std::lock_guard lock(shared_->mu);
  if (shared_->state != Lock::State::kReleased) {
    throw std::logic_error(
        "this Client's lock is still live: release it first, or use another "
        "Client");
  }
  shared_->connection.Send(wire::FormatLock(ToWire(resources)));
  const std::string frame = *shared_->connection.Next(std::nullopt);
  const wire::Answer answer = shared_->Parse(frame);
  if (answer.action != Action::kLock || answer.state == ConnState::kReady) {
    shared_->Unexpected(frame);
  }
  const bool acquired = answer.state == ConnState::kAcquired;
  shared_->id = answer.id;
  shared_->state = acquired ? Lock::State::kAcquired : Lock::State::kEnqueued;
  return Lock(shared_, answer.id, acquired);
}

bool Client::alive(std::chrono::milliseconds watch) {
  if (!shared_) return false;
  std::lock_guard lock(shared_->mu);
  try {
    // Nothing but an acquisition notice of an enqueued lock is expected. A
    // lock still enqueued is not read again: the notice may land between
    // two reads, and the second would take it for an unexpected message.
    const auto deadline = Clock::now() + watch;
    if (!shared_->AwaitAcquired(deadline)) return true;
    if (auto frame = shared_->connection.Next(deadline)) {
      shared_->Unexpected(*frame);
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::chrono::steady_clock::time_point Client::last_heard() const {
  return shared_ ? shared_->connection.last_heard() : Clock::time_point();
}

std::chrono::milliseconds Client::silence_limit() const {
  return shared_ ? shared_->connection.silence_limit()
                 : std::chrono::milliseconds(0);
}

}  // namespace locktopus::client
