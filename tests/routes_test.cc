// The HTTP router (server/core/routes.h): which endpoint a request target
// reaches, with which parameters, and the 400s and 404s of bad targets.

#include "server/core/routes.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace locktopus::server {
namespace {

TEST(Routes, AReplicationStreamNeedsEveryParameterWellFormed) {
  const RouteLimits limits;
  EXPECT_EQ(
      RouteTarget("/replicate_v1?member=10.0.0.2%3A7001&revision=5&"
                  "epoch=4&from=17",
                  limits),
      Route(ReplicateRoute{
          .member = "10.0.0.2:7001", .revision = 5, .epoch = 4, .from = 17}));
  for (const std::string& bad : std::vector<std::string>{
           "/replicate_v1", "/replicate_v1?revision=5&epoch=4&from=0",
           "/replicate_v1?member=&revision=5&epoch=4&from=0",
           "/replicate_v1?member=a%20b&revision=5&epoch=4&from=0",
           "/replicate_v1?member=a&epoch=4&from=0",
           "/replicate_v1?member=a&revision=x&epoch=4&from=0",
           "/replicate_v1?member=a&revision=5&epoch=-4&from=0",
           "/replicate_v1?member=a&revision=5&epoch=4&from=1.5",
           "/replicate_v1?member=" + std::string(kMaxMemberBytes + 1, 'm') +
               "&revision=5&epoch=4&from=0"}) {
    const Route route = RouteTarget(bad, limits);
    const auto* error = std::get_if<HttpError>(&route);
    ASSERT_NE(error, nullptr) << bad;
    EXPECT_EQ(error->status, 400) << bad;
  }
}

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

// DELETE reaches /locks_v1's force release alone; on any other target it
// routes as a read whose refusal is 405, so that the handler answers every
// target but /locks_v1 as it always has.
TEST(Routes, DeleteRoutesTheForceReleaseOnly) {
  RouteLimits limits{.max_namespace_bytes = 4};
  const auto del = [&limits](std::string_view target) {
    return RouteTarget(target, limits, nullptr, RouteVerb::kDelete);
  };
  EXPECT_EQ(del("/locks_v1?namespace=n&id=17"), Route(ReleaseRoute{"n", 17}));
  EXPECT_EQ(del("/locks_v1?id=18446744073709551615&namespace=a%20b"),
            Route(ReleaseRoute{"a b", 18446744073709551615u}));
  EXPECT_EQ(del("/locks_v1?id=1"),
            Route(HttpError{400, "URL parameter 'namespace' is required"}));
  EXPECT_EQ(std::get<HttpError>(del("/locks_v1?namespace=abcde&id=1")).status,
            400u);
  for (const char* bad : {"", "&id=", "&id=0", "&id=-1", "&id=x", "&id=1.5",
                          "&id=%201", "&id=+1", "&id=18446744073709551616"}) {
    EXPECT_EQ(del(std::string("/locks_v1?namespace=n") + bad),
              Route(HttpError{400,
                              "URL parameter 'id' should be a lock ID, an "
                              "integer from 1 to 18446744073709551615"}))
        << bad;
  }
  const HttpError not_allowed{405, "Method not allowed"};
  EXPECT_EQ(del("/stats_v1?namespace=n"), Route(StatsRoute{"n"}));
  EXPECT_EQ(del("/healthz"), Route(HealthRoute{}));
  for (const char* other : {"/nowhere", "/stats_v1", "/v1?namespace=abcde",
                            "not a target", "/locks_v2?namespace=n&id=1"}) {
    EXPECT_EQ(del(other), Route(not_allowed)) << other;
  }
  std::optional<std::string> token;
  RouteTarget("/locks_v1?namespace=n&id=1&token=t", limits, &token,
              RouteVerb::kDelete);
  EXPECT_EQ(token, "t");
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

}  // namespace
}  // namespace locktopus::server
