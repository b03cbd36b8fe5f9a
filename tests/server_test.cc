// The server's socket-free core: the HTTP router, the request handler, the
// connection state machine (driven with a fake transport) and the namespaces
// of the lock service.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "server/core/connection.h"
#include "server/core/handler.h"
#include "server/core/heap_trim.h"
#include "server/core/inspect.h"
#include "server/core/lock_service.h"
#include "server/core/routes.h"
#include "tests/test_support.h"

namespace locktopus::server {
namespace {

using locktopus::testing::R;
using locktopus::testing::W;
using wire::ConnState;
using wire::ProtocolErrorKind;

// ---- routes ----------------------------------------------------------------

TEST(Routes, RoutesEveryEndpoint) {
  RouteLimits limits;
  EXPECT_EQ(RouteTarget("/", limits), Route(StatusRoute{}));
  EXPECT_EQ(RouteTarget("/v1?namespace=a%20b", limits),
            Route(LockRoute{"a b", std::nullopt, ""}));
  EXPECT_EQ(RouteTarget("/v1?abandon-timeout-ms=0&namespace=n", limits),
            Route(LockRoute{"n", 0, ""}));
  EXPECT_EQ(RouteTarget("/v1?namespace=n&abandon-timeout-ms=86400000", limits),
            Route(LockRoute{"n", 86'400'000, ""}));
  EXPECT_EQ(RouteTarget("/stats_v1?namespace=n", limits),
            Route(StatsRoute{"n"}));
  EXPECT_EQ(RouteTarget("/stats?namespace=n%2Fm", limits),
            Route(StatsRoute{"n/m"}));
  EXPECT_EQ(RouteTarget("/v2?namespace=n", limits),
            Route(HttpError{404, "Not found"}));
  EXPECT_EQ(RouteTarget("/v1?namespace=a b", limits),
            Route(HttpError{400, "Malformed request target"}));
}

TEST(Routes, KeepsUnknownLockParametersForTheLog) {
  RouteLimits limits;
  EXPECT_EQ(
      RouteTarget("/v1?namespace=n&abandonTimeout=5&token=t&x%0A=1", limits),
      Route(LockRoute{.ns = "n", .unknown = {"abandonTimeout", "x?"}}));
  const Route many = RouteTarget(
      "/v1?namespace=n&a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1", limits);
  EXPECT_EQ(std::get<LockRoute>(many).unknown.size(), kMaxUnknownParams);
}

TEST(Routes, RoutesTheInspectorAndTheClientName) {
  RouteLimits limits;
  EXPECT_EQ(RouteTarget("/locks_v1?namespace=n", limits),
            Route(LocksRoute{.ns = "n"}));
  EXPECT_EQ(RouteTarget("/locks_v1?namespace=n&path=%2F", limits),
            Route(LocksRoute{.ns = "n"}));
  EXPECT_EQ(
      RouteTarget("/locks_v1?namespace=n&path=a/b%252Fc//d%2525&limit=1000"
                  "&blockers=0",
                  limits),
      Route(LocksRoute{.ns = "n",
                       .path = {"a", "b/c", "", "d%"},
                       .limit = 1000,
                       .blockers = 0}));
  EXPECT_EQ(RouteTarget("/locks_v1?namespace=n&limit=1&blockers=100", limits),
            Route(LocksRoute{.ns = "n", .limit = 1, .blockers = 100}));
  EXPECT_EQ(RouteTarget("/v1?namespace=n&client=job%201", limits),
            Route(LockRoute{"n", std::nullopt, "job 1"}));
  const std::string longest(kMaxClientNameBytes, 'x');
  EXPECT_EQ(RouteTarget("/v1?namespace=n&client=" + longest, limits),
            Route(LockRoute{"n", std::nullopt, longest}));
  // U+00A0 is the first character after the C1 controls.
  EXPECT_EQ(RouteTarget("/v1?namespace=n&client=%C2%A0%E2%9C%93", limits),
            Route(LockRoute{"n", std::nullopt, "\xC2\xA0\xE2\x9C\x93"}));
}

TEST(Routes, RefusesBadInspectorParametersAndClientNames) {
  RouteLimits limits;
  for (const char* query :
       {"limit=0", "limit=1001", "limit=", "limit=x", "limit=-1",
        "blockers=101", "blockers=1.5", "path=", "path=a%25zz", "path=%25"}) {
    const Route route =
        RouteTarget(std::string("/locks_v1?namespace=n&") + query, limits);
    const auto* error = std::get_if<HttpError>(&route);
    ASSERT_NE(error, nullptr) << query;
    EXPECT_EQ(error->status, 400u) << query;
    const std::string name(query, std::string_view(query).find('='));
    EXPECT_NE(error->body.find("'" + name + "'"), std::string::npos)
        << query << ": " << error->body;
  }
  EXPECT_EQ(RouteTarget("/locks_v1?path=a", limits),
            Route(HttpError{400, "URL parameter 'namespace' is required"}));
  for (const std::string& bad : std::vector<std::string>{
           "a%0Ab", "%00", "%1F", "%7F", "%C2%80", "%C2%9F", "%FF", "%C0%AF",
           "%ED%A0%80", std::string(kMaxClientNameBytes + 1, 'x')}) {
    const Route route = RouteTarget("/v1?namespace=n&client=" + bad, limits);
    const auto* error = std::get_if<HttpError>(&route);
    ASSERT_NE(error, nullptr) << bad;
    EXPECT_EQ(error->status, 400u) << bad;
    EXPECT_NE(error->body.find("'client'"), std::string::npos) << bad;
  }
}

TEST(Routes, RoutesMetricsHealthAndReadiness) {
  RouteLimits limits{.max_namespace_bytes = 1, .max_abandon_timeout_ms = 0};
  EXPECT_EQ(RouteTarget("/metrics", limits), Route(MetricsRoute{}));
  EXPECT_EQ(RouteTarget("/metrics?namespace=far-too-long", limits),
            Route(MetricsRoute{}));
  EXPECT_EQ(RouteTarget("/healthz", limits), Route(HealthRoute{}));
  EXPECT_EQ(RouteTarget("/readyz?x=1", limits), Route(ReadyRoute{}));
  for (const char* other : {"/metrics/", "/metrics/x", "/healthz/", "/ready",
                            "/health", "/Metrics"}) {
    EXPECT_EQ(RouteTarget(other, limits), Route(HttpError{404, "Not found"}))
        << other;
  }
}

TEST(Routes, RefusesBadParameters) {
  RouteLimits limits{.max_namespace_bytes = 4, .max_abandon_timeout_ms = 1000};
  const HttpError no_namespace{400, "URL parameter 'namespace' is required"};
  EXPECT_EQ(RouteTarget("/v1", limits), Route(no_namespace));
  EXPECT_EQ(RouteTarget("/v1?namespace=", limits), Route(no_namespace));
  EXPECT_EQ(RouteTarget("/stats_v1", limits), Route(no_namespace));
  EXPECT_EQ(RouteTarget("/v1?namespace=abcde", limits),
            Route(HttpError{400,
                            "URL parameter 'namespace' of 5 bytes is over "
                            "max-namespace-bytes (4)"}));
  for (const char* bad :
       {"-1", "", "1.5", "x", "99999999999999999999999", "+1", "%201"}) {
    Route route = RouteTarget(
        std::string("/v1?namespace=n&abandon-timeout-ms=") + bad, limits);
    ASSERT_TRUE(std::holds_alternative<HttpError>(route)) << bad;
    EXPECT_EQ(std::get<HttpError>(route).body.rfind(
                  "URL parameter 'abandon-timeout-ms' should be integer", 0),
              0u)
        << bad;
  }
  EXPECT_EQ(RouteTarget("/v1?namespace=n&abandon-timeout-ms=1001", limits),
            Route(HttpError{400,
                            "URL parameter 'abandon-timeout-ms' is over "
                            "max-abandon-timeout (1000)"}));
}

// ---- request handler -------------------------------------------------------

class HandlerTest : public ::testing::Test {
 protected:
  std::shared_ptr<ServerState> Make(Config config = {}) {
    return std::make_shared<ServerState>(std::move(config));
  }
  static HttpRequest Get(std::string_view target,
                         std::string_view authorization = "") {
    return {.target = target, .authorization = authorization};
  }
  static HttpResponse Response(Handled handled) {
    auto* response = std::get_if<HttpResponse>(&handled);
    EXPECT_NE(response, nullptr) << "an upgrade, not a response";
    return response ? *response : HttpResponse{};
  }
};

TEST_F(HandlerTest, CountsUnknownLockParameters) {
  auto state = Make();
  HttpRequest upgrade = Get("/v1?namespace=ns&abandonTimeout=5");
  upgrade.websocket_upgrade = true;
  EXPECT_TRUE(std::holds_alternative<Upgrade>(HandleRequest(upgrade, state)));
  EXPECT_EQ(state->metrics.unknown_query_parameters.load(), 1u);
  EXPECT_FALSE(state->unknown_params.First("abandonTimeout"));  // logged
  upgrade.target = "/v1?namespace=ns&abandon-timeout-ms=5&client=c";
  EXPECT_TRUE(std::holds_alternative<Upgrade>(HandleRequest(upgrade, state)));
  EXPECT_EQ(state->metrics.unknown_query_parameters.load(), 1u);
}

TEST_F(HandlerTest, AnswersEveryRoute) {
  auto state = Make();
  NamespaceHold held = state->locks->Open("ns");
  EXPECT_EQ(Response(HandleRequest(Get("/stats_v1?namespace=ns"), state)),
            (HttpResponse{.status = 200,
                          .content_type = "application/json",
                          .body = R"({"LastGroupID":0,"GroupsPending":0,)"
                                  R"("GroupsAcquired":0,"LocksPending":0,)"
                                  R"("LocksAcquired":0,"PathCount":0,)"
                                  R"("MemoryBytes":0})"}));
  held->Request(std::vector{W({"a", "b"})});
  const std::string body =
      Response(HandleRequest(Get("/stats_v1?namespace=ns"), state)).body;
  EXPECT_NE(body.find(R"("PathCount":2,"MemoryBytes":)" +
                      std::to_string(held->MemoryBytes()) + "}"),
            std::string::npos)
      << body;
  EXPECT_GT(held->MemoryBytes(), 0u);
  EXPECT_EQ(Response(HandleRequest(Get("/stats?namespace=no"), state)),
            (HttpResponse{.status = 404, .body = "Namespace not found"}));
  EXPECT_EQ(Response(HandleRequest(Get("/healthz"), state)),
            (HttpResponse{.status = 200, .body = "ok"}));
  EXPECT_EQ(Response(HandleRequest(Get("/readyz"), state)),
            (HttpResponse{.status = 200, .body = "ready"}));
  EXPECT_EQ(Response(HandleRequest(Get("/v1?namespace=ns"), state)).status,
            426u);
  EXPECT_EQ(Response(HandleRequest(Get("/nowhere"), state)).status, 404u);
  EXPECT_EQ(Response(HandleRequest(Get("/metrics"), state)).content_type,
            kPrometheusContentType);
  const HttpResponse page = Response(HandleRequest(Get("/"), state));
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<code>ns</code>"), std::string::npos);
  HttpRequest post = Get("/");
  post.method = HttpRequest::Method::kOther;
  EXPECT_EQ(Response(HandleRequest(post, state)).status, 405u);
  HttpRequest preflight = Get("/anything");
  preflight.method = HttpRequest::Method::kOptions;
  EXPECT_EQ(Response(HandleRequest(preflight, state)).status, 204u);
}

TEST_F(HandlerTest, UpgradesUnlessDrainingOrFull) {
  auto state = Make({.max_connections = 1});
  HttpRequest upgrade = Get("/v1?namespace=ns&abandon-timeout-ms=5");
  upgrade.websocket_upgrade = true;
  Handled first = HandleRequest(upgrade, state);
  ASSERT_TRUE(std::holds_alternative<Upgrade>(first));
  EXPECT_EQ(std::get<Upgrade>(first).route, (LockRoute{"ns", 5, ""}));
  EXPECT_EQ(state->connections.load(), 1u);
  const HttpResponse full = Response(HandleRequest(upgrade, state));
  EXPECT_EQ(full.status, 503u);
  EXPECT_EQ(full.body, "Too many connections: over max-connections (1)");
  first = HttpResponse{};  // the slot goes with the connection
  EXPECT_EQ(state->connections.load(), 0u);
  state->draining = true;
  EXPECT_EQ(Response(HandleRequest(upgrade, state)),
            (HttpResponse{.status = 503, .body = "Shutting down"}));
  EXPECT_EQ(Response(HandleRequest(Get("/readyz"), state)),
            (HttpResponse{.status = 503, .body = "draining"}));
  EXPECT_EQ(state->connections.load(), 0u);
}

TEST_F(HandlerTest, WithTokensOnlyTheProbesAndPreflightsAreOpen) {
  char path[] = "/tmp/locktopus-handler-test-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "t0k3n\n", 6), 6);
  close(fd);
  auto state = Make();
  state->auth = Authenticator::Load(path).value();
  std::remove(path);
  const HttpResponse refused = Response(HandleRequest(Get("/"), state));
  EXPECT_EQ(refused.status, 401u);
  EXPECT_EQ(refused.www_authenticate, "Bearer");
  for (const char* target : {"/nowhere", "/metrics", "/stats_v1?namespace=x",
                             "not a target", "/v1?namespace=x&token=wrong"}) {
    EXPECT_EQ(Response(HandleRequest(Get(target), state)).status, 401u)
        << target;
  }
  EXPECT_EQ(Response(HandleRequest(Get("/healthz"), state)).status, 200u);
  EXPECT_EQ(Response(HandleRequest(Get("/readyz"), state)).status, 200u);
  EXPECT_EQ(Response(HandleRequest(Get("/", "Bearer t0k3n"), state)).status,
            200u);
  EXPECT_EQ(Response(HandleRequest(Get("/nowhere?token=t0k3n"), state)).status,
            404u);
  HttpRequest upgrade = Get("/v1?namespace=x&token=t0k3n");
  upgrade.websocket_upgrade = true;
  EXPECT_TRUE(std::holds_alternative<Upgrade>(HandleRequest(upgrade, state)));
  HttpRequest preflight = Get("/v1?namespace=x");
  preflight.method = HttpRequest::Method::kOptions;
  EXPECT_EQ(Response(HandleRequest(preflight, state)).status, 204u);
}

// ---- connection state machine ----------------------------------------------

// Records what the connection sends, and runs timers when told to.
class FakeIo : public ConnectionIo, public Waiter {
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
  void After(std::chrono::milliseconds delay,
             std::function<void()> fn) override {
    timers.emplace_back(delay, std::move(fn));
  }
  void Notify(LockId id) override { notices.push_back(id); }

  std::vector<std::string> sent;
  std::vector<std::size_t> grants;
  int closed_with = 0;
  std::string close_reason;
  std::vector<std::pair<std::chrono::milliseconds, std::function<void()>>>
      timers;
  std::vector<LockId> notices;
};

constexpr std::string_view kLockA =
    R"({"action":"lock","resources":[{"type":"write","path":["a"]}]})";
constexpr std::string_view kRelease = R"({"action":"release"})";

class ConnectionTest : public ::testing::Test {
 protected:
  struct Client {
    std::shared_ptr<FakeIo> io = std::make_shared<FakeIo>();
    std::unique_ptr<Connection> conn;
  };

  Client Connect(std::chrono::milliseconds abandon = std::chrono::seconds(60)) {
    configs_.push_back(std::make_unique<ConnectionConfig>());
    configs_.back()->abandon_timeout = abandon;
    Client c;
    c.conn = std::make_unique<Connection>(ns_, *configs_.back(), *c.io, c.io);
    return c;
  }

  // Delivers every notice a fake received, as the transport would.
  static void Deliver(Client& c) {
    auto notices = std::exchange(c.io->notices, {});
    for (LockId id : notices) c.conn->OnAcquired(id);
  }

  const std::shared_ptr<LockService> service_ = std::make_shared<LockService>();
  const NamespaceHold ns_ = service_->Open("test");
  std::vector<std::unique_ptr<ConnectionConfig>> configs_;
};

// A namespace whose locks only queue and cancel still asks for the next
// raise of the durable ceiling (no acquisition is announced there, so the
// gate must see every ID issued); and at the ceiling a lock is refused
// rather than given an ID above it.
TEST_F(ConnectionTest, QueuedAndCancelledLocksStillAskForARaise) {
  ha::GrantGate gate;
  int raises = 0;
  gate.OnRaise([&raises] { ++raises; });
  gate.SetIdLimit(/*limit=*/8, /*raise_at=*/5);
  const ha::Time now = ha::Clock::now();
  gate.Enter(ha::GrantGate::Phase::kOpen, now, now + std::chrono::hours(1));
  Client holder = Connect();
  configs_.back()->gate = &gate;
  holder.conn->OnFrame(kLockA);
  Client waiter = Connect();
  configs_.back()->gate = &gate;
  for (int i = 0; i < 4; ++i) {
    waiter.conn->OnFrame(kLockA);    // enqueued: IDs 2 to 5
    waiter.conn->OnFrame(kRelease);  // cancelled
  }
  EXPECT_EQ(raises, 1);
  for (int i = 0; i < 3; ++i) {
    waiter.conn->OnFrame(kLockA);  // IDs 6 to 8
    waiter.conn->OnFrame(kRelease);
  }
  waiter.conn->OnFrame(kLockA);  // ID 9: above the ceiling
  EXPECT_EQ(waiter.io->closed_with, kTryAgainLaterCloseCode);
  EXPECT_EQ(waiter.io->sent.back(),
            wire::FormatError(
                "lock refused: lock IDs are at the durable ceiling (8), "
                "which could not be raised yet; try again later"));
  EXPECT_EQ(ns_->State(9), LockState::kNone);
}

TEST_F(ConnectionTest, LockReleaseAndQueuedAcquisition) {
  Client a = Connect(), b = Connect();
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  EXPECT_EQ(a.io->sent,
            std::vector<std::string>{
                R"({"id":"1","action":"lock","state":"acquired"})"});
  EXPECT_EQ(b.io->sent,
            std::vector<std::string>{
                R"({"id":"2","action":"lock","state":"enqueued"})"});
  a.conn->OnFrame(kRelease);
  EXPECT_EQ(a.io->sent.back(),
            R"({"id":"1","action":"release","state":"ready"})");
  EXPECT_EQ(b.io->notices, std::vector<LockId>{2});
  Deliver(b);
  EXPECT_EQ(b.io->sent.back(),
            R"({"id":"2","action":"lock","state":"acquired"})");
  EXPECT_EQ(b.conn->state(), ConnState::kAcquired);
  b.conn->OnFrame(kRelease);
  EXPECT_EQ(b.conn->state(), ConnState::kReady);
  EXPECT_EQ(ns_->GetStats(), Stats{.last_id = 2});
  // Every `acquired` frame, at once or later, and only those, go through
  // SendGrant: the transport checks the grant window again when it writes
  // them (ha/gate.h).
  EXPECT_EQ(a.io->grants, std::vector<std::size_t>{0});
  EXPECT_EQ(b.io->grants, std::vector<std::size_t>{1});
}

TEST(GrantGate, GrantsOnlyInsideItsWindowAndWhileOpen) {
  ha::GrantGate gate;
  const ha::Time t0 = ha::Clock::now();
  EXPECT_FALSE(gate.Granting(t0));
  gate.Enter(ha::GrantGate::Phase::kOpen, t0, t0 + std::chrono::seconds(1));
  EXPECT_TRUE(gate.Granting(t0));
  EXPECT_FALSE(gate.Granting(t0 + std::chrono::seconds(1)));
  gate.Close();
  EXPECT_FALSE(gate.Granting(t0));
}

// CLOCK_BOOTTIME counts a suspend and CLOCK_MONOTONIC does not; on a
// machine never suspended they read alike, so this checks the type and
// that the clock reads CLOCK_BOOTTIME rather than another clock (the role
// simulation's --suspend-stops-clock shows what a clock that stops does).
static_assert(std::is_same_v<ha::Clock, ha::BootClock>);

TEST(GrantGate, ItsClockReadsClockBoottime) {
  timespec boot{};
  ASSERT_EQ(clock_gettime(CLOCK_BOOTTIME, &boot), 0);
  const auto now = ha::Clock::now().time_since_epoch();
  const auto read = std::chrono::seconds(boot.tv_sec) +
                    std::chrono::nanoseconds(boot.tv_nsec);
  EXPECT_GE(now, read);
  EXPECT_LT(now - read, std::chrono::seconds(1));
}

TEST_F(ConnectionTest, InspectorShowsWhoHoldsAndWhoWaitsUntilTheAbandonEnds) {
  Client a = Connect(), b = Connect();
  configs_[0]->holder = std::make_shared<const HolderInfo>(HolderInfo{
      .client_name = "job-1", .connection = 7, .peer = "10.0.0.1:9"});
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  std::optional<LocksView> view = InspectLocks(*service_, "test", {});
  ASSERT_TRUE(view.has_value());
  EXPECT_EQ(view->live, 2u);
  ASSERT_EQ(view->locks.size(), 2u);
  const LockView& held = view->locks[0];
  EXPECT_EQ(held.state, LockState::kAcquired);
  ASSERT_TRUE(held.holder.has_value());
  EXPECT_EQ(held.holder->client_name, "job-1");
  EXPECT_EQ(held.holder->connection, 7u);
  EXPECT_FALSE(held.abandoned);
  EXPECT_EQ(view->locks[1].state, LockState::kEnqueued);
  EXPECT_FALSE(view->locks[1].holder.has_value());  // made without one
  EXPECT_EQ(view->locks[1].waits_for, std::vector<LockId>{1});

  // The connection goes: the lock's record stays with its abandon timer.
  a.conn->OnClosed();
  a.conn.reset();
  view = InspectLocks(*service_, "test", {});
  ASSERT_TRUE(view.has_value());
  EXPECT_TRUE(view->locks[0].abandoned);
  EXPECT_GT(view->locks[0].release_in_ms, 59'000);
  ASSERT_TRUE(view->locks[0].holder.has_value());
  const std::string json = LocksJson(*view);
  EXPECT_NE(json.find(R"("client_name":"job-1")"), std::string::npos) << json;
  EXPECT_EQ(json.find(R"("connection":7)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("abandoned":true)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("waits_for":["1"])"), std::string::npos) << json;
  EXPECT_EQ(InspectLocks(*service_, "never-opened", {}), std::nullopt);

  // The timer releases it; the waiter's notice still arrives.
  ASSERT_EQ(a.io->timers.size(), 1u);
  a.io->timers[0].second();
  EXPECT_EQ(b.io->notices, std::vector<LockId>{2});
  Deliver(b);
  view = InspectLocks(*service_, "test", {});
  ASSERT_EQ(view->locks.size(), 1u);
  EXPECT_EQ(view->locks[0].state, LockState::kAcquired);
}

TEST_F(ConnectionTest, ReleaseCrossingAcquisitionNeverSendsAcquiredAfterReady) {
  Client a = Connect(), b = Connect();
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  a.conn->OnFrame(kRelease);  // b's notice is now in flight
  b.conn->OnFrame(kRelease);  // b cancels before the notice arrives
  Deliver(b);
  EXPECT_EQ(b.io->sent,
            (std::vector<std::string>{
                R"({"id":"2","action":"lock","state":"enqueued"})",
                R"({"id":"2","action":"release","state":"ready"})"}));
  EXPECT_EQ(ns_->State(2), LockState::kNone);
}

TEST_F(ConnectionTest, ActionsNotAllowedInTheStateAreProtocolErrors) {
  Client a = Connect();
  a.conn->OnFrame(kRelease);
  EXPECT_EQ(a.io->sent.back(),
            "communication error: invalid action [release] in state [ready]");
  EXPECT_EQ(a.io->closed_with, 3000);

  Client b = Connect();
  b.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  EXPECT_EQ(b.io->sent.back(),
            "communication error: invalid action [lock] in state [acquired]");

  Client c = Connect();
  c.conn->OnFrame(kLockA);
  EXPECT_EQ(c.io->sent.back(),
            R"({"id":"2","action":"lock","state":"enqueued"})");
  c.conn->OnFrame(kLockA);
  EXPECT_EQ(c.io->sent.back(),
            "communication error: invalid action [lock] in state [enqueued]");
  EXPECT_EQ(c.io->closed_with, 3000);
  // The enqueued lock went as on a drop: cancelled at once.
  EXPECT_EQ(ns_->State(2), LockState::kNone);
}

TEST_F(ConnectionTest, DropCancelsEnqueuedLockAtOnce) {
  Client a = Connect(), b = Connect(), c = Connect();
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  c.conn->OnFrame(kLockA);
  b.conn->OnClosed();
  EXPECT_EQ(ns_->State(2), LockState::kNone);
  EXPECT_TRUE(b.io->timers.empty());
  a.conn->OnFrame(kRelease);
  EXPECT_EQ(c.io->notices, std::vector<LockId>{3});
}

TEST_F(ConnectionTest, DropKeepsAcquiredLockForTheAbandonTimeout) {
  Client a = Connect(std::chrono::milliseconds(1234)), b = Connect();
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  a.conn->OnClosed();
  a.conn->OnClosed();  // idempotent
  ASSERT_EQ(a.io->timers.size(), 1u);
  EXPECT_EQ(a.io->timers[0].first, std::chrono::milliseconds(1234));
  EXPECT_EQ(ns_->State(1), LockState::kAcquired);
  EXPECT_TRUE(b.io->notices.empty());
  a.io->timers[0].second();  // the abandon timeout passes
  EXPECT_EQ(ns_->State(1), LockState::kNone);
  EXPECT_EQ(b.io->notices, std::vector<LockId>{2});
}

TEST_F(ConnectionTest, ZeroAbandonTimeoutReleasesAtOnce) {
  Client a = Connect(std::chrono::milliseconds(0));
  a.conn->OnFrame(kLockA);
  a.conn->OnClosed();
  EXPECT_TRUE(a.io->timers.empty());
  EXPECT_EQ(ns_->State(1), LockState::kNone);
}

TEST_F(ConnectionTest, ProtocolErrorWhileAcquiredAbandonsTheLock) {
  Client a = Connect(std::chrono::milliseconds(50));
  a.conn->OnFrame(kLockA);
  a.conn->OnFrame("not json");
  EXPECT_EQ(a.io->sent.back().rfind("communication error: invalid JSON", 0),
            0u);
  EXPECT_EQ(a.io->closed_with, 3000);
  ASSERT_EQ(a.io->timers.size(), 1u);
  EXPECT_EQ(ns_->State(1), LockState::kAcquired);
  a.conn->OnFrame(kRelease);  // nothing is read after the error
  EXPECT_EQ(ns_->State(1), LockState::kAcquired);
  a.io->timers[0].second();
  EXPECT_EQ(ns_->State(1), LockState::kNone);
}

TEST_F(ConnectionTest, DrainingRefusesNewLocksButNotReleases) {
  std::atomic<bool> draining{false};
  Client a = Connect();
  configs_.back()->draining = &draining;
  Client b = Connect();
  configs_.back()->draining = &draining;
  a.conn->OnFrame(kLockA);
  draining = true;
  b.conn->OnFrame(kLockA);
  EXPECT_EQ(b.io->sent.back(),
            "communication error: server is shutting down: no new locks");
  EXPECT_EQ(b.io->closed_with, 3000);
  a.conn->OnFrame(kRelease);
  EXPECT_EQ(a.io->sent.back(),
            R"({"id":"1","action":"release","state":"ready"})");
  EXPECT_EQ(ns_->GetStats(), Stats{.last_id = 1});
}

TEST_F(ConnectionTest, OversizedFrameIsAProtocolError) {
  Client a = Connect();
  a.conn->OnOversizedFrame(2'000'000);
  EXPECT_EQ(a.io->sent.back(),
            "communication error: message of at least 2000000 bytes over "
            "max-message-bytes (1048576)");
  EXPECT_EQ(a.io->closed_with, 3000);
}

// Each lock ends exactly one way, as counted: requested = acquired +
// cancelled, acquired = released + abandoned once nothing is live; the wait
// histogram counts every acquisition and the hold histogram every release.
TEST_F(ConnectionTest, CountsLockEventsAndProtocolErrors) {
  Metrics metrics(/*per_namespace_labels=*/true);
  auto connect = [&](std::chrono::milliseconds abandon =
                         std::chrono::seconds(60)) {
    Client c = Connect(abandon);
    configs_.back()->metrics = &metrics;
    return c;
  };
  auto locks = [&metrics] {
    const LockCounters& l = metrics.locks;
    return std::vector<std::uint64_t>{l.requested, l.acquired, l.released,
                                      l.cancelled, l.abandoned};
  };
  using V = std::vector<std::uint64_t>;

  Client a = connect(), b = connect(), c = connect(),
         d = connect(std::chrono::milliseconds(0));
  a.conn->OnFrame(kLockA);  // 1 acquired at once
  b.conn->OnFrame(kLockA);  // 2 enqueued
  c.conn->OnFrame(kLockA);  // 3 enqueued
  EXPECT_EQ(locks(), (V{3, 1, 0, 0, 0}));
  EXPECT_EQ(metrics.wait.Read().count, 1u);
  c.conn->OnFrame(kRelease);  // 3 cancelled by its client
  EXPECT_EQ(locks(), (V{3, 1, 0, 1, 0}));
  a.conn->OnFrame(kRelease);  // 1 released; 2 acquired once told
  EXPECT_EQ(locks(), (V{3, 1, 1, 1, 0}));
  EXPECT_EQ(metrics.hold.Read().count, 1u);
  Deliver(b);
  EXPECT_EQ(locks(), (V{3, 2, 1, 1, 0}));
  EXPECT_EQ(metrics.wait.Read().count, 2u);
  d.conn->OnFrame(kLockA);  // 4 enqueued behind 2
  d.conn->OnClosed();       // dropped while enqueued: cancelled
  b.conn->OnClosed();       // dropped while acquired: abandoned
  EXPECT_EQ(locks(), (V{4, 2, 1, 2, 1}));
  EXPECT_EQ(metrics.hold.Read().count, 1u);  // abandoned locks are not held

  // A release crossing its acquisition notice is a cancel, as the client
  // saw it: it never got `acquired`.
  Client e = connect(), f = connect();
  e.conn->OnFrame(kLockA);      // 5: lock 2 is abandoned, not yet released
  b.io->timers.at(0).second();  // the abandon timeout passes: 5 acquired
  f.conn->OnFrame(kLockA);      // 6 enqueued
  Deliver(e);
  e.conn->OnFrame(kRelease);  // 6's notice is now in flight
  f.conn->OnFrame(kRelease);  // and f cancels before it arrives
  Deliver(f);
  EXPECT_EQ(locks(), (V{6, 3, 2, 3, 1}));
  EXPECT_EQ(ns_->GetStats().locks_acquired + ns_->GetStats().locks_pending, 0u);
  EXPECT_EQ(metrics.wait.Read().count, 3u);
  EXPECT_EQ(metrics.hold.Read().count, 2u);

  // Protocol errors, by kind; an acquired lock goes as on a drop.
  std::atomic<bool> draining{false};
  Client g = connect(), h = connect(), i = connect(), j = connect(),
         k = connect(std::chrono::milliseconds(0));
  g.conn->OnFrame("nope");
  h.conn->OnFrame(kRelease);
  i.conn->OnOversizedFrame(5'000'000);
  k.conn->OnFrame(kLockA);
  k.conn->OnFrame(kLockA);  // lock in state acquired
  configs_[configs_.size() - 2]->draining = &draining;
  draining = true;
  j.conn->OnFrame(kLockA);
  auto errors = [&metrics](ProtocolErrorKind kind) {
    return metrics.protocol_errors[static_cast<std::size_t>(kind)].load();
  };
  EXPECT_EQ(errors(ProtocolErrorKind::kBadJson), 1u);
  EXPECT_EQ(errors(ProtocolErrorKind::kBadMessage), 0u);
  EXPECT_EQ(errors(ProtocolErrorKind::kOversized), 1u);
  EXPECT_EQ(errors(ProtocolErrorKind::kOverLimit), 0u);
  EXPECT_EQ(errors(ProtocolErrorKind::kWrongState), 2u);
  EXPECT_EQ(errors(ProtocolErrorKind::kShuttingDown), 1u);
  EXPECT_EQ(locks(), (V{7, 4, 2, 3, 2}));

  // The namespace's own counters agree, since the flag is on.
  const LockCounters& n = ns_->counters();
  EXPECT_EQ((V{n.requested, n.acquired, n.released, n.cancelled, n.abandoned}),
            locks());
}

TEST_F(ConnectionTest, NamespaceCountersOnlyWhenAskedFor) {
  Metrics metrics(/*per_namespace_labels=*/false);
  Client a = Connect();
  configs_.back()->metrics = &metrics;
  a.conn->OnFrame(kLockA);
  a.conn->OnFrame(kRelease);
  EXPECT_EQ(metrics.locks.requested, 1u);
  EXPECT_EQ(metrics.locks.released, 1u);
  EXPECT_EQ(ns_->counters().requested, 0u);
  EXPECT_EQ(ns_->counters().released, 0u);
}

// A waiter that, when told, takes a lock in the same namespace: only
// possible if notices are delivered after the namespace's mutex is released.
TEST_F(ConnectionTest, AConnectionDestroyedWithoutClosingEndsItsLock) {
  Client a = Connect(), b = Connect(),
         c = Connect(std::chrono::milliseconds(0));
  a.conn->OnFrame(kLockA);
  b.conn->OnFrame(kLockA);
  c.conn->OnFrame(
      R"({"action":"lock","resources":[{"type":"read","path":["z"]}]})");
  b.conn.reset();  // enqueued: cancelled at once
  EXPECT_EQ(ns_->State(2), LockState::kNone);
  c.conn.reset();  // acquired, abandon timeout 0: released at once
  EXPECT_EQ(ns_->State(3), LockState::kNone);
  a.conn.reset();  // acquired: abandoned for its timeout
  EXPECT_EQ(ns_->State(1), LockState::kAcquired);
  ASSERT_EQ(a.io->timers.size(), 1u);
  a.io->timers[0].second();
  EXPECT_EQ(ns_->State(1), LockState::kNone);
}

// A transport whose Send throws once armed, as a session handler does when
// it runs out of memory.
class ThrowingIo : public FakeIo {
 public:
  void Send(std::string text) override {
    if (armed) {
      armed = false;
      throw std::bad_alloc();
    }
    FakeIo::Send(std::move(text));
  }
  void SendGrant(std::string text) override {
    if (armed) {
      armed = false;
      throw std::bad_alloc();
    }
    FakeIo::SendGrant(std::move(text));
  }
  bool armed = false;
};

TEST_F(ConnectionTest, AnExceptionInAHandlerNeverLeaksTheLock) {
  Client a = Connect();
  a.conn->OnFrame(kLockA);
  for (bool acquire : {false, true}) {
    auto io = std::make_shared<ThrowingIo>();
    configs_.push_back(std::make_unique<ConnectionConfig>());
    configs_.back()->abandon_timeout = std::chrono::milliseconds(0);
    auto conn = std::make_unique<Connection>(ns_, *configs_.back(), *io, io);
    const LockId id = ns_->GetStats().last_id + 1;
    if (acquire) {
      // Its lock is acquired, then the notice's answer cannot be sent.
      conn->OnFrame(kLockA);
      a.conn->OnFrame(kRelease);
      io->armed = true;
      EXPECT_THROW(conn->OnAcquired(id), std::bad_alloc);
      EXPECT_EQ(ns_->State(id), LockState::kAcquired);
    } else {
      // Its lock is enqueued, then the answer cannot be sent.
      io->armed = true;
      EXPECT_THROW(conn->OnFrame(kLockA), std::bad_alloc);
      EXPECT_EQ(ns_->State(id), LockState::kEnqueued);
    }
    // The exception ends the session's chain of handlers: the session, and
    // with it the connection, is destroyed without a close.
    conn.reset();
    EXPECT_EQ(ns_->State(id), LockState::kNone);
  }
  // Nothing is left waiting: a new lock of the same path is acquired.
  Client b = Connect();
  b.conn->OnFrame(kLockA);
  EXPECT_EQ(b.conn->state(), ConnState::kAcquired);
}

TEST(LockBudget,
     ALockTheBudgetCannotCoverIsRefusedWith1013AndNothingElseChanges) {
  auto service = std::make_shared<LockService>(64 * 1024);
  const NamespaceHold ns = service->Open("t");
  Metrics metrics;
  ConnectionConfig config{.metrics = &metrics};
  auto connect = [&](FakeIo& io) {
    return std::make_unique<Connection>(ns, config, io, WaiterRef());
  };
  FakeIo a_io, b_io, c_io;
  auto a = connect(a_io), b = connect(b_io), c = connect(c_io);
  a->OnFrame(kLockA);
  ASSERT_EQ(a->state(), ConnState::kAcquired);
  const std::uint64_t held = service->memory().used();
  EXPECT_GT(held, 0u);

  // 1,000 new paths: more than 64 KiB in the worst case.
  std::vector<Resource> big;
  for (int i = 0; i < 1000; ++i) big.push_back(W({std::to_string(i)}));
  b->OnFrame(wire::FormatLock(big));
  EXPECT_EQ(b_io.sent,
            std::vector<std::string>{
                "communication error: lock refused: the server's "
                "lock memory is full (over max-lock-memory (65536)); "
                "try again later"});
  EXPECT_EQ(b_io.closed_with, 1013);
  EXPECT_EQ(b_io.close_reason, "try again later");
  EXPECT_EQ(b->state(), ConnState::kReady);
  EXPECT_EQ(metrics.locks_refused_lock_memory.load(), 1u);
  EXPECT_EQ(metrics.locks.requested.load(), 1u);
  EXPECT_EQ(metrics
                .protocol_errors[static_cast<std::size_t>(
                    wire::ProtocolErrorKind::kOverLimit)]
                .load(),
            0u);
  // Nothing changed for the others: no ID used, the lock held still held,
  // the memory charged the same; a small lock still fits.
  EXPECT_EQ(ns->GetStats().last_id, 1u);
  EXPECT_EQ(service->memory().used(), held);
  c->OnFrame(R"({"action":"lock","resources":[{"type":"read","path":["b"]}]})");
  EXPECT_EQ(c_io.sent.back(),
            R"({"id":"2","action":"lock","state":"acquired"})");
  a->OnFrame(kRelease);
  c->OnFrame(kRelease);
  EXPECT_EQ(service->memory().used(), 0u);
  EXPECT_EQ(service->Find("t")->memory_bytes, 0u);
}

TEST(HeapTrimmer, TrimsOnceTheLockMemoryHasFallenWellBelowItsPeak) {
  constexpr std::uint64_t kMiB = 1 << 20;
  HeapTrimmer trimmer;
  EXPECT_FALSE(trimmer.Observe(0));
  EXPECT_FALSE(trimmer.Observe(3 * kMiB));
  EXPECT_FALSE(trimmer.Observe(2 * kMiB + 1));  // fell by less than 1 MiB
  EXPECT_TRUE(trimmer.Observe(2 * kMiB));       // by 1 MiB: the peak resets
  EXPECT_FALSE(trimmer.Observe(kMiB + 1));
  EXPECT_TRUE(trimmer.Observe(kMiB));
  // Above 8 MiB, a fall of an eighth of the peak.
  EXPECT_FALSE(trimmer.Observe(64 * kMiB));
  EXPECT_FALSE(trimmer.Observe(57 * kMiB));
  EXPECT_TRUE(trimmer.Observe(56 * kMiB));
}

class ReentrantWaiter : public Waiter {
 public:
  explicit ReentrantWaiter(Namespace& ns) : ns_(ns) {}
  void Notify(LockId) override {
    const RequestResult r = ns_.Request(std::vector{R({"elsewhere"})});
    ns_.Release(r.id);
    ++notified;
  }
  Namespace& ns_;
  int notified = 0;
};

TEST(LockService, NoticesAreDeliveredOutsideTheNamespaceMutex) {
  auto service = std::make_shared<LockService>();
  NamespaceHold ns = service->Open("test");
  auto waiter = std::make_shared<ReentrantWaiter>(*ns);
  auto run = std::async(std::launch::async, [&] {
    const RequestResult first = ns->Request(std::vector{W({"a"})});
    ns->Request(std::vector{W({"a"})}, waiter);
    ns->Release(first.id);
  });
  if (run.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    // The step deadlocked on its own mutex; the thread cannot be recovered.
    std::fprintf(stderr, "FAILED: a notice was delivered under the mutex\n");
    std::_Exit(1);
  }
  EXPECT_EQ(waiter->notified, 1);
}

TEST(LockService, OpensANamespaceOnFirstUseAndSharesIt) {
  auto service = std::make_shared<LockService>();
  EXPECT_EQ(service->FindStats("a"), std::nullopt);
  NamespaceHold a1 = service->Open("a");
  NamespaceHold a2 = service->Open("a");
  NamespaceHold b = service->Open("b");
  EXPECT_EQ(&*a1, &*a2);
  EXPECT_NE(&*a1, &*b);
  EXPECT_EQ(a1->name(), "a");
  EXPECT_EQ(service->open(), 2u);
  EXPECT_EQ(service->opened(), 2u);
  // Independent sequences.
  EXPECT_EQ(a1->Request(std::vector{W({})}).id, 1u);
  EXPECT_EQ(b->Request(std::vector{W({})}).id, 1u);
  EXPECT_EQ(a2->Request(std::vector{W({})}).id, 2u);
  EXPECT_EQ(service->FindStats("a")->last_id, 2u);
  EXPECT_EQ(service->LiveLocks(), 3u);
}

TEST(LockService, AnIdleNamespaceIsFreedAndContinuesAboveItsLastId) {
  auto service = std::make_shared<LockService>();
  {
    NamespaceHold ns = service->Open("a");
    NamespaceHold copy = ns;  // a second hold, as an abandon timer takes
    ns->Release(ns->Request(std::vector{W({"x"})}).id);
    ns->Release(ns->Request(std::vector{W({"x"})}).id);
    ns.reset();
    EXPECT_EQ(service->open(), 1u);  // still held by the copy
  }
  EXPECT_EQ(service->open(), 0u);
  EXPECT_EQ(service->FindStats("a"), std::nullopt);
  NamespaceHold again = service->Open("a");
  EXPECT_EQ(again->GetStats(), Stats{.last_id = 2});
  EXPECT_EQ(again->Request(std::vector{W({"x"})}).id, 3u);
  EXPECT_EQ(service->opened(), 2u);
  // A name never used starts at 1.
  EXPECT_EQ(service->Open("fresh")->Request(std::vector{W({})}).id, 1u);
}

TEST(LockService, ANamespaceWithALiveLockIsNeverForgotten) {
  auto service = std::make_shared<LockService>();
  service->Open("a")->Request(std::vector{W({"x"})});  // hold dropped at once
  ASSERT_EQ(service->open(), 1u);
  NamespaceHold ns = service->Open("a");
  EXPECT_EQ(ns->Request(std::vector{W({"x"})}),
            (RequestResult{.step = 2, .id = 2, .acquired = false}));
}

TEST(LockService, BusiestListsTheMostLiveLocksFirstWithinItsLimit) {
  auto service = std::make_shared<LockService>();
  std::vector<NamespaceHold> holds;
  for (const auto& [name, locks] :
       std::vector<std::pair<std::string, int>>{{"one", 1},
                                                {"three", 3},
                                                {"none", 0},
                                                {"two", 2},
                                                {"also-two", 2}}) {
    holds.push_back(service->Open(name));
    for (int i = 0; i < locks; ++i) {
      holds.back()->Request(std::vector{R({std::to_string(i)})});
    }
  }
  auto names = [&](std::size_t limit) {
    std::vector<std::string> out;
    for (const NamespaceSummary& s : service->Busiest(limit)) {
      out.push_back(s.name);
    }
    return out;
  };
  EXPECT_EQ(names(3), (std::vector<std::string>{"three", "also-two", "two"}));
  EXPECT_EQ(names(10), (std::vector<std::string>{"three", "also-two", "two",
                                                 "one", "none"}));
  EXPECT_EQ(names(0), std::vector<std::string>{});
  EXPECT_EQ(service->Busiest(1)[0].stats.locks_acquired, 3u);
}

}  // namespace
}  // namespace locktopus::server
