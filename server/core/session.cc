#include "server/core/session.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <stdexcept>

#include "server/core/auth.h"
#include "server/core/log.h"

namespace locktopus::server {
namespace {

constexpr std::size_t kIdDigits = 16;
constexpr std::size_t kSecretBytes = 32;
constexpr std::size_t kSecretChars = 43;  // base64url, unpadded

void RandomBytes(unsigned char* out, std::size_t size) {
  if (RAND_bytes(out, static_cast<int>(size)) != 1) {
    throw std::runtime_error("the CSPRNG failed to make a session token");
  }
}

bool IsBase64Url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

std::string_view PeerAddress(std::string_view peer) {
  const std::size_t colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

std::string SessionToken::Text() const {
  std::array<char, kIdDigits> digits{};
  const auto [end, ec] =
      std::to_chars(digits.data(), digits.data() + digits.size(), id, 16);
  const auto written = static_cast<std::size_t>(end - digits.data());
  std::string text(kIdDigits - written, '0');
  text.append(digits.data(), written);
  text += '.';
  text += secret;
  return text;
}

SessionToken NewSessionToken() {
  SessionToken token;
  unsigned char id[sizeof token.id];
  RandomBytes(id, sizeof id);
  for (unsigned char byte : id) token.id = token.id << 8 | byte;
  std::array<unsigned char, kSecretBytes> secret{};
  RandomBytes(secret.data(), secret.size());
  // Standard base64 (4 characters per 3 bytes, padded), then the URL-safe
  // alphabet of RFC 4648 §5 without padding.
  std::array<unsigned char, (kSecretBytes + 2) / 3 * 4 + 1> text{};
  const int length = EVP_EncodeBlock(text.data(), secret.data(),
                                     static_cast<int>(kSecretBytes));
  token.secret.assign(reinterpret_cast<const char*>(text.data()),
                      static_cast<std::size_t>(length));
  std::erase(token.secret, '=');
  std::replace(token.secret.begin(), token.secret.end(), '+', '-');
  std::replace(token.secret.begin(), token.secret.end(), '/', '_');
  return token;
}

std::optional<SessionToken> ParseSessionToken(std::string_view text) {
  if (text.size() != kIdDigits + 1 + kSecretChars || text[kIdDigits] != '.') {
    return std::nullopt;
  }
  // Lowercase only, as written: one token has one spelling.
  const std::string_view id = text.substr(0, kIdDigits);
  if (id.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return std::nullopt;
  }
  SessionToken token;
  const char* end = text.data() + kIdDigits;
  const auto [ptr, ec] = std::from_chars(text.data(), end, token.id, 16);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  token.secret = text.substr(kIdDigits + 1);
  if (!std::all_of(token.secret.begin(), token.secret.end(), IsBase64Url)) {
    return std::nullopt;
  }
  return token;
}

// ---- ClientSession ---------------------------------------------------------

ClientSession::ClientSession(SessionToken token, std::string ns,
                             ConnectionConfig config,
                             std::weak_ptr<SessionTable> table)
    : token_(std::move(token)),
      ns_name_(std::move(ns)),
      table_(std::move(table)),
      config_(std::move(config)) {
  config_.session = true;
  config_.session_id = token_.id;
}

ClientSession::~ClientSession() {
  MutexLock lock(mu_);
  io_ = nullptr;  // a transport may be gone before the session
  if (connection_) connection_->Expire();
}

std::shared_ptr<ClientSession> ClientSession::Make(
    SessionToken token, NamespaceHold ns, ConnectionConfig config,
    std::weak_ptr<SessionTable> table) {
  auto session = std::make_shared<ClientSession>(
      std::move(token), ns->name(), std::move(config), std::move(table));
  MutexLock lock(session->mu_);
  // The session is its Connection's transport and its locks' holder: the
  // engine's notices and an operator's release reach it whether or not a
  // transport is attached.
  session->connection_.emplace(std::move(ns), session->config_,
                               static_cast<ConnectionIo&>(*session),
                               LockHolderRef(session->weak_from_this()));
  return session;
}

bool ClientSession::Attach(const std::shared_ptr<SessionTransport>& transport,
                           std::shared_ptr<const HolderInfo> holder) {
  MutexLock lock(mu_);
  if (ended_) return false;
  std::shared_ptr<SessionTransport> old = Attached();
  {
    MutexLock attach(attach_mu_);
    attached_ = transport;
  }
  // From here the old transport speaks for the session no more; it is told
  // so before the new one hears anything.
  if (old != nullptr) {
    old->CloseSoon(kSessionMovedCloseCode, std::string(kSessionMovedReason));
    Log("moved to a new connection; the old one is closed with 4409");
  }
  const bool resumed = attached_once_;
  attached_once_ = true;
  if (resumed && io_ == nullptr) {
    Metrics* metrics = config_.metrics;
    if (metrics != nullptr) {
      metrics->sessions.detached_now.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  ++detachment_;
  io_ = transport.get();
  config_.holder = std::move(holder);
  const wire::ConnState state = connection_->Attach();
  const wire::SessionFrame frame{
      .state =
          resumed ? wire::SessionFrame::kResumed : wire::SessionFrame::kNew,
      .token = token_.Text(),
      .window_ms = static_cast<std::uint64_t>(window().count()),
      .id = connection_->lock_id(),
      .lock = state};
  if (resumed) {
    Count(&SessionCounters::resumed);
    Log("resumed with its lock " + std::string(wire::Name(state)));
  } else {
    Count(&SessionCounters::created);
    Log("opened, window " + std::to_string(window().count()) + " ms");
  }
  if (state == wire::ConnState::kAcquired) {
    io_->SendGrant(wire::FormatSessionFrame(frame));
  } else {
    io_->Send(wire::FormatSessionFrame(frame));
  }
  return true;
}

void ClientSession::OnFrame(const SessionTransport* from,
                            std::string_view text) {
  MutexLock lock(mu_);
  if (from == io_) connection_->OnFrame(text);
}

void ClientSession::OnOversizedFrame(const SessionTransport* from,
                                     std::size_t size) {
  MutexLock lock(mu_);
  if (from == io_) connection_->OnOversizedFrame(size);
}

void ClientSession::OnAcquired(const SessionTransport* from, LockId id) {
  {
    MutexLock lock(mu_);
    if (from == io_) {
      connection_->OnAcquired(id);
      return;
    }
  }
  // Posted to a transport that has been taken over since: the one attached
  // now announces it on its own strand. While detached, Attach asks the
  // engine instead.
  Notify(id);
}

void ClientSession::OnForceReleased(const SessionTransport* from, LockId id) {
  {
    MutexLock lock(mu_);
    if (from == io_ || io_ == nullptr) {
      connection_->OnForceReleased(id);
      return;
    }
  }
  // Posted to a transport that has been taken over since: the lock is gone
  // all the same, and the one attached now is told on its own strand.
  ForceReleased(id);
}

void ClientSession::OnClosed(SessionTransport* from) {
  MutexLock lock(mu_);
  if (from != io_ || ended_) return;
  Detach(window(),
         [from](std::chrono::milliseconds delay, std::function<void()> fn) {
           from->After(delay, std::move(fn));
         });
}

bool ClientSession::AdoptLock(LockId id, std::span<const Resource> resources,
                              const ha::Owner& owner) {
  MutexLock lock(mu_);
  return connection_->Adopt(id, resources, owner);
}

void ClientSession::AdoptDetached(std::chrono::milliseconds window,
                                  const TimerFn& after) {
  MutexLock lock(mu_);
  attached_once_ = true;
  Detach(window, after);
}

void ClientSession::Detach(std::chrono::milliseconds window,
                           const TimerFn& after) {
  {
    MutexLock attach(attach_mu_);
    attached_.reset();
  }
  io_ = nullptr;
  const std::uint64_t detachment = ++detachment_;
  connection_->Detach(LockRecord::Clock::now() + window);
  Count(&SessionCounters::detached);
  if (config_.metrics != nullptr) {
    Increment(config_.metrics->sessions.detached_now);
  }
  Log("detached for " + std::to_string(window.count()) + " ms");
  after(window, [weak = weak_from_this(), detachment] {
    if (auto self = weak.lock()) self->Expire(detachment);
  });
}

void ClientSession::Expire(std::uint64_t detachment) {
  {
    MutexLock lock(mu_);
    if (ended_ || detachment != detachment_) return;
    ended_ = true;
    connection_->Expire();
    Count(&SessionCounters::expired);
    if (config_.metrics != nullptr) {
      config_.metrics->sessions.detached_now.fetch_sub(
          1, std::memory_order_relaxed);
    }
    Log("expired: its window passed with no resume");
  }
  if (auto table = table_.lock()) table->Remove(token_.id);
}

void ClientSession::Notify(LockId id) {
  if (auto transport = Attached()) transport->Notify(id);
}

void ClientSession::ForceReleased(LockId id) {
  if (auto transport = Attached()) {
    transport->ForceReleased(id);
    return;
  }
  MutexLock lock(mu_);
  if (io_ == nullptr) {
    connection_->OnForceReleased(id);
    return;
  }
  // Attached between the two looks: the new transport is told.
  if (auto transport = Attached()) transport->ForceReleased(id);
}

std::shared_ptr<SessionTransport> ClientSession::Attached() const {
  MutexLock attach(attach_mu_);
  return attached_.lock();
}

void ClientSession::Send(std::string text) {
  if (io_ != nullptr) io_->Send(std::move(text));
}
void ClientSession::SendGrant(std::string text) {
  if (io_ != nullptr) io_->SendGrant(std::move(text));
}
void ClientSession::Close(std::uint16_t code, std::string_view reason) {
  if (io_ != nullptr) io_->Close(code, reason);
}
ha::Time ClientSession::Now() {
  return io_ != nullptr ? io_->Now() : ha::Clock::now();
}
void ClientSession::After(std::chrono::milliseconds delay,
                          std::function<void()> fn) {
  // A session's Connection never abandons its lock (Expire ends it at
  // once), so it sets no timer of its own; if it ever did, the attached
  // transport's timer serves.
  if (io_ != nullptr) io_->After(delay, std::move(fn));
}

void ClientSession::Count(Counter SessionCounters::*counter) const {
  if (config_.metrics != nullptr) Increment(config_.metrics->sessions.*counter);
}

void ClientSession::Log(std::string_view event) const {
  if (!config_.log_clients) return;
  std::string who = "a session";
  if (const HolderInfo* holder = config_.holder.get()) {
    who = "the session of " + LogName(*holder);
  }
  LogInfo(who + " to namespace [" + ns_name_ + "] " + std::string(event));
}

// ---- SessionTable ----------------------------------------------------------

std::shared_ptr<ClientSession> SessionTable::Create(
    NamespaceHold ns, const ConnectionConfig& config) {
  MutexLock lock(mu_);
  if (sessions_.size() >= max_sessions_) return nullptr;
  SessionToken token = NewSessionToken();
  while (token.id == 0 || sessions_.contains(token.id)) {
    token = NewSessionToken();
  }
  return Insert(std::move(token), std::move(ns), config);
}

std::shared_ptr<ClientSession> SessionTable::Adopt(
    SessionToken token, NamespaceHold ns, const ConnectionConfig& config) {
  MutexLock lock(mu_);
  if (token.id == 0 || sessions_.contains(token.id)) return nullptr;
  return Insert(std::move(token), std::move(ns), config);
}

bool SessionTable::Contains(std::uint64_t id) const {
  MutexLock lock(mu_);
  return sessions_.contains(id);
}

std::shared_ptr<ClientSession> SessionTable::Insert(
    SessionToken token, NamespaceHold ns, const ConnectionConfig& config) {
  auto session = ClientSession::Make(std::move(token), std::move(ns), config,
                                     weak_from_this());
  sessions_.emplace(session->token().id, session);
  if (log_ != nullptr) {
    log_->Append(ha::SessionOpened{
        .id = session->token().id,
        .secret = session->token().secret,
        .ns = session->ns(),
        .window_ms = static_cast<std::uint64_t>(session->window().count())});
  }
  return session;
}

std::shared_ptr<ClientSession> SessionTable::Find(std::string_view text,
                                                  std::string_view ns,
                                                  std::string_view peer) {
  const std::optional<SessionToken> token = ParseSessionToken(text);
  MutexLock lock(mu_);
  std::shared_ptr<ClientSession> found;
  if (token) {
    if (auto it = sessions_.find(token->id); it != sessions_.end()) {
      // Compared in full whatever the namespace, so that a wrong secret
      // and a wrong namespace take the same time.
      const bool secret =
          EqualConstantTime(token->secret, it->second->token().secret);
      if (secret && it->second->ns() == ns) found = it->second;
    }
  }
  if (found != nullptr) return found;
  if (metrics_ != nullptr)
    metrics_->sessions.CountFailure(ResumeFailure::kNotFound);
  const auto now = Clock::now();
  auto it = failures_.find(peer);
  if (it == failures_.end()) {
    if (failures_.size() >= kMaxPeers) {
      // Forget the peer that failed longest ago.
      failures_.erase(std::min_element(failures_.begin(), failures_.end(),
                                       [](const auto& a, const auto& b) {
                                         return a.second.at < b.second.at;
                                       }));
    }
    it = failures_.emplace(std::string(peer), Failures{.at = now}).first;
  }
  Refill(it->second, now);
  it->second.tokens = std::max(0.0, it->second.tokens - 1);
  return nullptr;
}

bool SessionTable::Limited(std::string_view peer,
                           std::chrono::milliseconds* retry_after) {
  MutexLock lock(mu_);
  auto it = failures_.find(peer);
  if (it == failures_.end()) return false;
  Refill(it->second, Clock::now());
  if (it->second.tokens >= 1) return false;
  if (metrics_ != nullptr) {
    metrics_->sessions.CountFailure(ResumeFailure::kRateLimited);
  }
  if (retry_after != nullptr) {
    *retry_after = std::chrono::ceil<std::chrono::milliseconds>(
        kFailureRefill * (1 - it->second.tokens));
  }
  return true;
}

void SessionTable::Refill(Failures& failures, Clock::time_point now) {
  const double earned =
      std::chrono::duration<double>(now - failures.at) / kFailureRefill;
  failures.tokens = std::min(kFailureBurst, failures.tokens + earned);
  failures.at = now;
}

void SessionTable::Remove(std::uint64_t id) {
  std::shared_ptr<ClientSession> gone;  // destroyed outside the mutex
  MutexLock lock(mu_);
  if (auto it = sessions_.find(id); it != sessions_.end()) {
    gone = std::move(it->second);
    sessions_.erase(it);
    if (log_ != nullptr) log_->Append(ha::SessionEnded{.id = id});
  }
}

std::size_t SessionTable::live() const {
  MutexLock lock(mu_);
  return sessions_.size();
}

}  // namespace locktopus::server
