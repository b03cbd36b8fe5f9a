// The dashboard at /: its routes, the namespaces list and its JSON, the
// locks table rendered from hand-made /locks_v1 pages (hostile names
// included), the page, and the static assets, with and without tokens.

#include "server/core/dashboard.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "server/core/auth.h"
#include "server/core/handler.h"
#include "server/core/lock_service.h"
#include "server/core/routes.h"
#include "tests/auth_support.h"
#include "tests/grace_support.h"
#include "tests/test_support.h"
#include "wire/pages.h"

namespace locktopus::server {
namespace {

using locktopus::testing::R;
using locktopus::testing::W;

bool Has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST(DashboardRoutes, TheStatusPageTakesAFilterAndANamespace) {
  const RouteLimits limits{.max_namespace_bytes = 1};
  EXPECT_EQ(RouteTarget("/", limits), (Route{StatusRoute{}}));
  // Never refused, whatever the limits: a name no namespace has shows none.
  EXPECT_EQ(RouteTarget("/?filter=a%20b&namespace=n%2Fm&token=t&x=1", limits),
            (Route{StatusRoute{.filter = "a b", .ns = "n/m"}}));
}

TEST(DashboardRoutes, NamespacesTakeAFilterAndABoundedLimit) {
  const RouteLimits limits;
  EXPECT_EQ(RouteTarget("/namespaces_v1", limits),
            (Route{NamespacesRoute{.filter = "", .limit = 20}}));
  EXPECT_EQ(RouteTarget("/namespaces_v1?filter=%3Cb%3E&limit=1000", limits),
            (Route{NamespacesRoute{.filter = "<b>", .limit = 1000}}));
  for (const char* bad :
       {"0", "1001", "-1", "", "ten", "5x", "99999999999999999999"}) {
    const Route route =
        RouteTarget(std::string("/namespaces_v1?limit=") + bad, limits);
    const auto* error = std::get_if<HttpError>(&route);
    ASSERT_NE(error, nullptr) << bad;
    EXPECT_EQ(error->status, 400u);
    EXPECT_TRUE(Has(error->body, "'limit'")) << error->body;
  }
}

TEST(DashboardRoutes, OnlyTheStaticAssetsAreOpen) {
  const RouteLimits limits;
  EXPECT_EQ(RouteTarget("/dashboard.js?v=abc", limits),
            (Route{AssetRoute{"/dashboard.js"}}));
  EXPECT_TRUE(IsOpen(RouteTarget("/dashboard.css", limits)));
  EXPECT_TRUE(IsOpen(RouteTarget("/dashboard.js", limits)));
  EXPECT_FALSE(IsOpen(RouteTarget("/namespaces_v1", limits)));
  EXPECT_FALSE(IsOpen(RouteTarget("/?namespace=x", limits)));
  EXPECT_EQ(RouteTarget("/dashboard.html", limits),
            (Route{HttpError{404, "Not found"}}));
}

TEST(Dashboard, BusiestMatchingFiltersCountsAndBounds) {
  auto locks = std::make_shared<LockService>();
  std::vector<NamespaceHold> holds;
  for (const char* name : {"alpha", "beta", "alphabet", "gamma"}) {
    holds.push_back(locks->Open(name));
  }
  holds[2]->Request(std::vector{W({"a"})});
  holds[2]->Request(std::vector{W({"a"})});
  holds[0]->Request(std::vector{R({"a"})});
  NamespaceList list = BusiestMatching(*locks, "alpha", 1);
  EXPECT_EQ(list.open, 4u);
  EXPECT_EQ(list.matching, 2u);
  ASSERT_EQ(list.busiest.size(), 1u);
  EXPECT_EQ(list.busiest[0].name, "alphabet");
  EXPECT_TRUE(list.more());
  EXPECT_EQ(
      wire::FormatNamespacesPage(ToNamespacesPage(list)),
      R"({"open":4,"opened":4,"namespaces":[{"name":"alphabet","locks_acquired":1,)"
      R"("locks_pending":1}],"more":true})");
  list = BusiestMatching(*locks, "", 20);
  EXPECT_FALSE(list.more());
  ASSERT_EQ(list.busiest.size(), 4u);
  EXPECT_EQ(list.busiest[0].name, "alphabet");
  EXPECT_EQ(list.busiest[1].name, "alpha");
  EXPECT_EQ(list.busiest[2].name, "beta");  // ties by name
  EXPECT_EQ(BusiestMatching(*locks, "zzz", 20).matching, 0u);
}

wire::LocksPage HostilePage() {
  wire::LocksPage page{.ns = "ns", .live = 3, .more = true};
  page.locks.push_back(
      wire::ListedLock{.id = 1,
                       .state = LockState::kAcquired,
                       .resources = {W({"a", "b/<c>"}), R({})},
                       .client_name = "<script>alert(1)</script>",
                       .peer = "127.0.0.1:5555",
                       .since_ms = 12'500,
                       .release_in_ms = 59'000});
  page.locks.push_back(wire::ListedLock{.id = 18446744073709551615u,
                                        .state = LockState::kEnqueued,
                                        .resources = {R({"a&b", "\"q'"})},
                                        .client_name = "job-2",
                                        .connection = 18,
                                        .peer = "",
                                        .since_ms = 250,
                                        .waits_for = {1, 7},
                                        .waits_for_more = true});
  return page;
}

TEST(Dashboard, RenderLocksHtmlEscapesEverythingFromClients) {
  const std::string html = RenderLocksHtml(HostilePage());
  EXPECT_FALSE(Has(html, "<script>")) << html;
  EXPECT_TRUE(Has(html, "&lt;script&gt;alert(1)&lt;/script&gt;")) << html;
  EXPECT_TRUE(Has(html, "write a/b%2F&lt;c&gt;<br>read /")) << html;
  EXPECT_TRUE(Has(html, "read a&amp;b/&quot;q&#39;")) << html;
  EXPECT_TRUE(Has(html, "<tr data-id=\"1\" class=\"acquired abandoned\">"))
      << html;
  EXPECT_TRUE(Has(html, "held 12s; abandoned, released in 59s")) << html;
  EXPECT_TRUE(Has(html,
                  "<tr data-id=\"18446744073709551615\" "
                  "class=\"enqueued\">"))
      << html;
  EXPECT_TRUE(Has(html, "<td class=\"waits\">1 7 &hellip;</td>")) << html;
  EXPECT_TRUE(Has(html, "waiting 250ms")) << html;
  EXPECT_TRUE(Has(html, "3 live; 2 listed, more not shown.")) << html;
}

TEST(Dashboard, LocksListTheLongestWaitsFirstThenTheLongestHeld) {
  wire::LocksPage page{.ns = "ns", .live = 6};
  auto lock = [&page](std::uint64_t id, LockState state,
                      std::uint64_t since_ms) {
    page.locks.push_back(wire::ListedLock{.id = id,
                                          .state = state,
                                          .resources = {W({"a"})},
                                          .since_ms = since_ms});
  };
  lock(1, LockState::kAcquired, 900);
  lock(2, LockState::kAcquired, 90'000);
  lock(3, LockState::kEnqueued, 5'000);
  lock(4, LockState::kEnqueued, 125'000);
  lock(5, LockState::kEnqueued, 5'000);
  lock(6, LockState::kEnqueued, 250);
  const std::string html = RenderLocksHtml(page);
  std::vector<std::string> ids;
  for (std::size_t at = html.find("data-id=\""); at != std::string::npos;
       at = html.find("data-id=\"", at + 1)) {
    const std::size_t from = at + 9;
    ids.push_back(html.substr(from, html.find('"', from) - from));
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"4", "3", "5", "6", "2", "1"}));
  EXPECT_TRUE(Has(html,
                  "6 live; 6 listed. The longest waits first, then the "
                  "longest held.</p>"))
      << html;
  EXPECT_TRUE(Has(RenderLocksHtml(wire::LocksPage{.ns = "ns"}),
                  "0 live; 0 listed.</p>"));
}

class DashboardHandlerTest : public ::testing::Test {
 protected:
  static HttpResponse Get(const std::shared_ptr<ServerState>& state,
                          std::string_view target,
                          std::string_view authorization = "") {
    Handled handled = HandleRequest(
        {.target = target, .authorization = authorization}, state);
    auto* response = std::get_if<HttpResponse>(&handled);
    EXPECT_NE(response, nullptr);
    return response ? *response : HttpResponse{};
  }
};

TEST_F(DashboardHandlerTest, ThePageEscapesNamesAndStaysSmall) {
  auto state = std::make_shared<ServerState>(Config{});
  std::vector<NamespaceHold> holds;
  holds.push_back(state->locks->Open("<img src=x onerror=alert(1)>"));
  for (int i = 0; i < 500; ++i) {
    holds.push_back(state->locks->Open("ns-" + std::to_string(i)));
  }
  const HttpResponse page = Get(state, "/?filter=%3C&namespace=%22%3E%3Cb%3E");
  EXPECT_EQ(page.status, 200u);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(page.cache_control, "no-store");
  EXPECT_FALSE(Has(page.body, "<img")) << page.body;
  EXPECT_FALSE(Has(page.body, "\"><b>")) << page.body;
  EXPECT_TRUE(
      Has(page.body, "<code>&lt;img src=x onerror=alert(1)&gt;</code>"));
  EXPECT_TRUE(Has(page.body,
                  "href=\"/?namespace=%3Cimg%20src%3Dx%20onerror"
                  "%3Dalert%281%29%3E&amp;filter=%3C\""))
      << page.body;
  EXPECT_TRUE(Has(page.body, "data-namespace=\"&quot;&gt;&lt;b&gt;\""));
  EXPECT_FALSE(Has(page.body, "ns-1<")) << "filtered out";
  EXPECT_TRUE(Has(page.body, "/dashboard.js?v="));
  const std::string all = Get(state, "/").body;
  EXPECT_TRUE(Has(all, "501 open now"));
  EXPECT_TRUE(Has(all, "The 20 busiest of 501 matching."));
  EXPECT_LT(all.size(), 16'384u);
}

// Durations and sizes in units, the exact value in the cell's tooltip.
TEST_F(DashboardHandlerTest, ParametersAreInUnitsTheExactValueInATooltip) {
  Config config;
  config.default_abandon_timeout_ms = 60'000;
  config.route_limits.max_abandon_timeout_ms = 86'400'000;
  config.keepalive_ms = 250;
  config.handshake_timeout_ms = 7'199'999;  // 1.99999 h rounds up to 2 h
  config.message_limits.max_message_bytes = 32u << 20;
  config.message_limits.max_segment_bytes = 255;
  config.route_limits.max_namespace_bytes = 1536;
  config.max_lock_memory = std::uint64_t{1} << 30;
  auto state = std::make_shared<ServerState>(config);
  const std::string page = Get(state, "/").body;
  for (const char* row : {
           "<th>default abandon timeout</th><td title=\"60000 ms\">60 s</td>",
           "<th>max abandon timeout</th><td title=\"86400000 ms\">1 d</td>",
           "<th>keep-alive interval</th><td title=\"250 ms\">250 ms</td>",
           "<th>handshake timeout</th><td title=\"7199999 ms\">2 h</td>",
           "<th>max message bytes</th><td title=\"33554432 bytes\">32 "
           "MiB</td>",
           "<th>max segment bytes</th><td title=\"255 bytes\">255 B</td>",
           "<th>max namespace bytes</th><td title=\"1536 bytes\">1.5 "
           "KiB</td>",
           "<th>max lock memory</th><td title=\"1073741824 bytes\">1 "
           "GiB</td>",
           "<th>max connections</th><td>100000</td>",
       }) {
    EXPECT_TRUE(Has(page, row)) << row << "\n" << page;
  }
}

// The namespaces and the locks come first; the server follows, what it is
// doing in view, its parameters folded.
TEST_F(DashboardHandlerTest, TheConfigurationIsFoldedAfterTheLocks) {
  auto state = std::make_shared<ServerState>(Config{});
  const std::string page = Get(state, "/?namespace=ns").body;
  const std::size_t namespaces = page.find("<section id=\"namespaces\">");
  const std::size_t locks = page.find("<section id=\"locks\"");
  const std::size_t server = page.find("<section id=\"server\">");
  const std::size_t connections = page.find("<th>open connections</th>");
  const std::size_t folded =
      page.find("<details id=\"config\" class=\"config\"><summary>");
  const std::size_t limits = page.find("<th>max connections</th>");
  ASSERT_NE(folded, std::string::npos) << page;
  EXPECT_LT(namespaces, locks);
  EXPECT_LT(locks, server);
  EXPECT_LT(server, connections);
  EXPECT_LT(connections, folded);
  EXPECT_LT(folded, limits);
}

// In the grace after a takeover the page says how much is left, where it
// shows the role.
TEST_F(DashboardHandlerTest, TheRoleShowsTheGraceLeft) {
  auto state = std::make_shared<ServerState>(Config{.state_dir = "/var/x"});
  testing::EnterGrace(*state, std::chrono::milliseconds(2500));
  const std::string page = Get(state, "/").body;
  EXPECT_TRUE(Has(page, "<code>/var/x</code>, role grace: 3 s left")) << page;
  EXPECT_TRUE(Has(page, "class=\"health ok\">grace: 3 s left<")) << page;
  state->role = ha::Role::kServing;
  const std::string serving = Get(state, "/").body;
  EXPECT_TRUE(Has(serving, "<code>/var/x</code>, role serving<")) << serving;
  EXPECT_TRUE(Has(serving, "class=\"health ok\">serving<")) << serving;
}

TEST_F(DashboardHandlerTest, AssetsAreOpenAndCachedTheDataIsNot) {
  auto state = std::make_shared<ServerState>(Config{});
  state->auth = testing::OneTokenAuthenticator("t0k3n");
  ASSERT_NE(state->auth, nullptr);
  NamespaceHold held = state->locks->Open("ns");

  const HttpResponse js = Get(state, "/dashboard.js?v=1");
  EXPECT_EQ(js.status, 200u);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(js.cache_control, "public, max-age=86400");
  EXPECT_TRUE(Has(js.body, "/locks_v1?"));
  const HttpResponse css = Get(state, "/dashboard.css");
  EXPECT_EQ(css.status, 200u);
  EXPECT_EQ(css.content_type, "text/css; charset=utf-8");

  EXPECT_EQ(Get(state, "/namespaces_v1").status, 401u);
  EXPECT_EQ(Get(state, "/?namespace=ns").status, 401u);
  const HttpResponse list = Get(state, "/namespaces_v1", "Bearer t0k3n");
  EXPECT_EQ(list.status, 200u);
  EXPECT_EQ(list.content_type, "application/json");
  EXPECT_EQ(list.cache_control, "no-store");
  EXPECT_EQ(
      list.body,
      R"({"open":1,"opened":1,"namespaces":[{"name":"ns","locks_acquired":0,)"
      R"("locks_pending":0}],"more":false})");
  EXPECT_EQ(Get(state, "/namespaces_v1?limit=0", "Bearer t0k3n").status, 400u);
  // A page opened with ?token= carries it on in its links and its form.
  const std::string page = Get(state, "/?token=t0k3n&filter=n").body;
  EXPECT_TRUE(Has(page, "href=\"/?namespace=ns&amp;filter=n&amp;token=t0k3n\""))
      << page;
  EXPECT_TRUE(Has(page, "name=\"token\" value=\"t0k3n\""));
  // Opened with the header, it names no token.
  EXPECT_FALSE(Has(Get(state, "/", "Bearer t0k3n").body, "t0k3n"));
}

}  // namespace
}  // namespace locktopus::server
