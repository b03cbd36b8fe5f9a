// The request handler (server/core/handler.h): one HTTP request in, one
// answer or an upgrade out, for every route, with tokens, while draining and
// at max-connections.

#include "server/core/handler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "server/core/auth.h"
#include "server/core/connection.h"
#include "server/core/metrics.h"
#include "server/core/server_state.h"
#include "tests/auth_support.h"
#include "tests/fake_io.h"
#include "tests/grace_support.h"
#include "tests/test_support.h"
#include "wire/pages.h"

namespace locktopus::server {
namespace {

using locktopus::testing::W;

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

// /replicate_v1 opens only with replication on, only with the group's peer
// token (never a client's: the stream carries sessions' secrets), only as
// an upgrade, and only on a serving active.
TEST_F(HandlerTest, AReplicationStreamNeedsThePeerTokenAndAServingActive) {
  const std::string target =
      "/replicate_v1?member=b%3A7001&revision=12&epoch=9&from=0";
  const std::string peer(40, 'p');
  const std::string bearer = "Bearer " + peer;
  HttpRequest request = Get(target, bearer);
  request.websocket_upgrade = true;
  EXPECT_EQ(Response(HandleRequest(request, Make())).status, 404);  // off

  Config config;
  config.etcd_endpoints = "http://127.0.0.1:2379";
  config.ha_peer_token_file = "/nonexistent";
  auto state = Make(config);
  state->peer_token = peer;
  state->replication = std::make_shared<ReplicationPort>();
  state->role = ha::Role::kServing;
  const Handled opened = HandleRequest(request, state);
  ASSERT_TRUE(std::holds_alternative<ReplicaUpgrade>(opened));
  EXPECT_EQ(std::get<ReplicaUpgrade>(opened).route,
            (ReplicateRoute{.member = "b:7001", .revision = 12, .epoch = 9}));
  for (const std::string& auth :
       std::vector<std::string>{std::string(), "Bearer " + peer.substr(1),
                                "Bearer client-token", "Basic " + peer}) {
    HttpRequest wrong = request;
    wrong.authorization = auth;
    EXPECT_EQ(Response(HandleRequest(wrong, state)).status, 401) << auth;
  }
  const std::string in_query = target + "&token=" + peer;
  HttpRequest query = Get(in_query);  // a token in the query opens nothing
  query.websocket_upgrade = true;
  EXPECT_EQ(Response(HandleRequest(query, state)).status, 401);
  HttpRequest plain = request;
  plain.websocket_upgrade = false;
  EXPECT_EQ(Response(HandleRequest(plain, state)).status, 426);
  for (const ha::Role role :
       {ha::Role::kStandby, ha::Role::kGrace, ha::Role::kFenced}) {
    state->role = role;
    EXPECT_EQ(Response(HandleRequest(request, state)).status, 503)
        << ha::Name(role);
  }
  state->role = ha::Role::kServing;
  request.target = "/replicate_v1?member=b&revision=-1&epoch=9&from=0";
  EXPECT_EQ(Response(HandleRequest(request, state)).status, 400);
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
  const auto stats = wire::ParseStatsPage(body);
  ASSERT_TRUE(stats.ok()) << body;
  EXPECT_EQ(stats.value().stats.path_count, 2u);
  EXPECT_EQ(stats.value().memory_bytes, held->MemoryBytes());
  EXPECT_GT(held->MemoryBytes(), 0u);
  EXPECT_EQ(Response(HandleRequest(Get("/stats?namespace=no"), state)),
            (HttpResponse{.status = 404, .body = "Namespace not found"}));
  EXPECT_EQ(Response(HandleRequest(Get("/healthz"), state)),
            (HttpResponse{.status = 200, .body = "ok"}));
  EXPECT_EQ(Response(HandleRequest(Get("/readyz"), state)),
            (HttpResponse{.status = 200, .body = "serving"}));
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

// /readyz names what the server does: 200 "serving", or in the grace after
// a takeover "grace: N s left" (rounded up); 503 with the role that takes
// no clients.
TEST_F(HandlerTest, ReadinessSaysTheGraceLeftAndTheRole) {
  auto state = Make();
  const ha::Time now =
      testing::EnterGrace(*state, std::chrono::milliseconds(3500));
  EXPECT_EQ(Response(HandleRequest(Get("/readyz"), state)),
            (HttpResponse{.status = 200, .body = "grace: 4 s left"}));
  EXPECT_EQ(GraceLeft(*state, now + std::chrono::seconds(1)),
            std::chrono::milliseconds(2500));
  EXPECT_EQ(ServingText(*state, now + std::chrono::seconds(3)),
            "grace: 1 s left");
  // Past grace_until, before the role logic ends it: nothing left.
  EXPECT_EQ(GraceLeft(*state, now + std::chrono::seconds(4)),
            ha::Clock::duration::zero());
  EXPECT_EQ(ServingText(*state, now + std::chrono::seconds(4)),
            "grace: 0 s left");
  state->role = ha::Role::kServing;
  EXPECT_EQ(GraceLeft(*state, now), ha::Clock::duration::zero());
  EXPECT_EQ(Response(HandleRequest(Get("/readyz"), state)),
            (HttpResponse{.status = 200, .body = "serving"}));
  state->role = ha::Role::kStandby;
  EXPECT_EQ(Response(HandleRequest(Get("/readyz"), state)),
            (HttpResponse{.status = 503, .body = "standby"}));
}

TEST_F(HandlerTest, WithTokensOnlyTheProbesAndPreflightsAreOpen) {
  auto state = Make();
  state->auth = testing::OneTokenAuthenticator("t0k3n");
  ASSERT_NE(state->auth, nullptr);
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

// DELETE /locks_v1 through the handler: the lock ends, its waiter is
// acquired, its holder is told (and closes with 4000 once told); a lock
// that is not live is 404, a bad ID 400; every other target answers DELETE
// as before, 405.
TEST_F(HandlerTest, ForceReleasesALiveLock) {
  auto state = Make();
  ConnectionConfig config{.metrics = &state->metrics};
  testing::FakeClient a(state->locks->Open("ns"), config);
  testing::FakeClient b(state->locks->Open("ns"), config);
  a.conn->OnFrame(testing::kLockA);
  b.conn->OnFrame(testing::kLockA);
  ASSERT_EQ(b.conn->state(), wire::ConnState::kEnqueued);

  const auto del = [&state](std::string_view target) {
    HttpRequest request = Get(target);
    request.method = HttpRequest::Method::kDelete;
    request.peer = "10.1.2.3:4567";
    return Response(HandleRequest(request, state));
  };
  EXPECT_EQ(del("/locks_v1?namespace=ns&id=1"),
            (HttpResponse{.status = 200,
                          .body = "Released lock 1 of namespace [ns]: it was "
                                  "acquired"}));
  EXPECT_EQ(state->metrics.locks_force_released.load(), 1u);
  EXPECT_EQ(b.io->notices, std::vector<LockId>{2});
  EXPECT_EQ(a.io->force_released, std::vector<LockId>{1});
  testing::Deliver(*a.io, *a.conn);
  EXPECT_EQ(a.io->sent.back(),
            "communication error: lock released by an operator");
  EXPECT_EQ(a.io->closed_with, 4000);
  testing::Deliver(*b.io, *b.conn);
  EXPECT_EQ(b.conn->state(), wire::ConnState::kAcquired);

  EXPECT_EQ(del("/locks_v1?namespace=ns&id=1"),
            (HttpResponse{.status = 404,
                          .body = "Lock not found: no live lock 1 of "
                                  "namespace [ns]"}));
  EXPECT_EQ(del("/locks_v1?namespace=never&id=1").status, 404u);
  EXPECT_EQ(del("/locks_v1?namespace=ns&id=two").status, 400u);
  EXPECT_EQ(del("/locks_v1?namespace=ns").status, 400u);
  EXPECT_EQ(state->metrics.locks_force_released.load(), 1u);
  EXPECT_EQ(state->locks->HoldIfOpen("ns")->State(2), LockState::kAcquired);
  EXPECT_EQ(del("/stats_v1?namespace=ns"),
            (HttpResponse{.status = 405, .body = "Method not allowed"}));
  EXPECT_EQ(del("/nowhere").status, 405u);
  EXPECT_EQ(
      Response(HandleRequest(Get("/locks_v1?namespace=ns&id=2"), state)).status,
      200u);  // GET lists, whatever `id` says
}

// Refused without a token exactly as every protected endpoint is; and a
// standby (or a fenced server) releases nothing, as it takes no client.
TEST_F(HandlerTest, AForceReleaseNeedsTheTokenAndTheActiveServer) {
  auto state = Make();
  state->auth = testing::OneTokenAuthenticator("t0k3n");
  ASSERT_NE(state->auth, nullptr);
  NamespaceHold ns = state->locks->Open("ns");
  ns->Request(std::vector{W({"a"})});
  const auto del = [&state](std::string_view target,
                            std::string_view authorization = "") {
    HttpRequest request = Get(target, authorization);
    request.method = HttpRequest::Method::kDelete;
    return Response(HandleRequest(request, state));
  };
  const HttpResponse unauthorized = Response(HandleRequest(Get("/"), state));
  ASSERT_EQ(unauthorized.status, 401u);
  EXPECT_EQ(del("/locks_v1?namespace=ns&id=1"), unauthorized);
  EXPECT_EQ(del("/locks_v1?namespace=ns&id=1", "Bearer wrong"), unauthorized);
  EXPECT_EQ(del("/locks_v1?namespace=ns&id=1&token=wrong"), unauthorized);
  EXPECT_EQ(ns->State(1), LockState::kAcquired);

  for (const ha::Role role : {ha::Role::kStandby, ha::Role::kFenced}) {
    state->role = role;
    EXPECT_EQ(del("/locks_v1?namespace=ns&id=1", "Bearer t0k3n"),
              (HttpResponse{.status = 503,
                            .body = "Not the active server of its group (" +
                                    std::string(ha::Name(role)) + ")"}));
    EXPECT_EQ(ns->State(1), LockState::kAcquired);
  }
  state->role = ha::Role::kServing;
  EXPECT_EQ(del("/locks_v1?namespace=ns&id=1&token=t0k3n").status, 200u);
  EXPECT_EQ(ns->State(1), LockState::kNone);
}

}  // namespace
}  // namespace locktopus::server
