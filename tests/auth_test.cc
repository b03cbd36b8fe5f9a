// --auth-token-file without sockets: the file format, the token a request
// carries, the comparison, and reloading.

#include "server/core/auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "server/core/routes.h"

namespace locktopus::server {
namespace {

TEST(ParseTokens, OneTokenPerLineSkippingBlankLinesAndComments) {
  EXPECT_EQ(
      ParseTokens("alpha\n\n# a comment\n   \nbeta\n  # indented comment\n"),
      (Tokens{"alpha", "beta"}));
}

TEST(ParseTokens, TrimsWhitespaceAndCarriageReturns) {
  EXPECT_EQ(ParseTokens("  alpha \r\nbeta\t\r\n\r\ngamma"),
            (Tokens{"alpha", "beta", "gamma"}));
}

TEST(ParseTokens, KeepsInnerCharactersAndAHashAfterTheStart) {
  EXPECT_EQ(ParseTokens("a#b\nc d\n"), (Tokens{"a#b", "c d"}));
}

TEST(ParseTokens, EmptyTextHasNoToken) {
  EXPECT_EQ(ParseTokens(""), Tokens{});
  EXPECT_EQ(ParseTokens("\n\r\n# only a comment\n"), Tokens{});
}

TEST(MatchesAnyToken, ExactMatchesOnly) {
  const Tokens tokens{"secret-one", "secret-two"};
  EXPECT_TRUE(MatchesAnyToken("secret-one", tokens));
  EXPECT_TRUE(MatchesAnyToken("secret-two", tokens));
  EXPECT_FALSE(MatchesAnyToken("secret-on", tokens));    // a prefix
  EXPECT_FALSE(MatchesAnyToken("secret-one!", tokens));  // longer
  EXPECT_FALSE(MatchesAnyToken("Secret-one", tokens));   // case matters
  EXPECT_FALSE(MatchesAnyToken("", tokens));
  EXPECT_FALSE(MatchesAnyToken(std::string("secret-one\0", 11), tokens));
  EXPECT_FALSE(MatchesAnyToken("secret-one", Tokens{}));
}

using Query = std::optional<std::string>;

TEST(RequestToken, BearerHeader) {
  EXPECT_EQ(RequestToken("Bearer abc", std::nullopt), "abc");
  EXPECT_EQ(RequestToken("bearer   abc  ", std::nullopt), "abc");
  EXPECT_EQ(RequestToken("BEARER abc", std::nullopt), "abc");
}

TEST(RequestToken, QueryParameterWhenNoBearerHeader) {
  EXPECT_EQ(RequestToken("", Query("abc")), "abc");
  EXPECT_EQ(RequestToken("Basic dXNlcjpwYXNz", Query("abc")), "abc");
  EXPECT_EQ(RequestToken("Bearer", Query("abc")), "abc");
}

TEST(RequestToken, TheHeaderWinsOverTheQuery) {
  EXPECT_EQ(RequestToken("Bearer head", Query("query")), "head");
}

TEST(RequestToken, NoneCarried) {
  EXPECT_EQ(RequestToken("", std::nullopt), std::nullopt);
  EXPECT_EQ(RequestToken("Bearerabc", std::nullopt), std::nullopt);
  EXPECT_EQ(RequestToken("Basic abc", std::nullopt), std::nullopt);
}

// The router parses the target once and hands the token parameter over,
// URL-decoded.
TEST(Routes, GiveTheTokenParameter) {
  const RouteLimits limits;
  Query token;
  RouteTarget("/v1?namespace=x&token=abc", limits, &token);
  EXPECT_EQ(token, "abc");
  RouteTarget("/v1?token=a%2Bb%20c&namespace=x", limits, &token);
  EXPECT_EQ(token, "a+b c");
  RouteTarget("/?token=t1&token=t2", limits, &token);
  EXPECT_EQ(token, "t1");
  RouteTarget("/v1?namespace=x", limits, &token);
  EXPECT_EQ(token, std::nullopt);
  token = "stale";
  RouteTarget("not a target", limits, &token);
  EXPECT_EQ(token, "stale");  // unparsed: refused before any parameter
}

TEST(Routes, OnlyTheProbesAreOpen) {
  const RouteLimits limits;
  EXPECT_TRUE(IsOpen(RouteTarget("/healthz", limits)));
  EXPECT_TRUE(IsOpen(RouteTarget("/healthz?x=1", limits)));
  EXPECT_TRUE(IsOpen(RouteTarget("/readyz", limits)));
  for (const char* closed :
       {"/", "/healthz/x", "/v1?namespace=healthz", "/stats_v1?namespace=x",
        "/metrics", "/nowhere", "not a target"}) {
    EXPECT_FALSE(IsOpen(RouteTarget(closed, limits))) << closed;
  }
}

TEST(Routes, TheTokenParameterIsIgnoredByRouting) {
  const RouteLimits limits;
  EXPECT_EQ(RouteTarget("/v1?namespace=a&token=t&abandon-timeout-ms=5", limits),
            (Route{LockRoute{"a", 5, ""}}));
  EXPECT_EQ(RouteTarget("/v1?token=t&namespace=a", limits),
            (Route{LockRoute{"a", std::nullopt, ""}}));
  EXPECT_EQ(RouteTarget("/stats_v1?token=t&namespace=a", limits),
            (Route{StatsRoute{"a"}}));
  EXPECT_EQ(RouteTarget("/?token=t", limits), (Route{StatusRoute{}}));
}

class TokenFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("locktopus_auth_test_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                .string();
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void Write(const std::string& text) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << text;
  }
  std::string path_;
};

TEST_F(TokenFileTest, MissingFileIsAnErrorNamingTheFile) {
  auto read = ReadTokenFile(path_);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, Error::Code::kIo);
  EXPECT_NE(read.error().message.find(path_), std::string::npos);
  EXPECT_FALSE(Authenticator::Load(path_).ok());
}

TEST_F(TokenFileTest, AFileWithoutTokensIsAnError) {
  Write("# nothing yet\n\n");
  auto read = ReadTokenFile(path_);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, Error::Code::kInvalidArgument);
}

TEST_F(TokenFileTest, ErrorsNeverHoldTheTokens) {
  Write("# comment\n");
  auto read = ReadTokenFile(path_);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().message.find("comment"), std::string::npos);
}

TEST_F(TokenFileTest, AllowsListedTokens) {
  Write("old\nnew\n");
  auto loaded = Authenticator::Load(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Authenticator& auth = *loaded.value();
  EXPECT_EQ(auth.size(), 2u);
  EXPECT_TRUE(auth.Allows("Bearer old", std::nullopt));
  EXPECT_TRUE(auth.Allows("", Query("new")));
  EXPECT_FALSE(auth.Allows("", std::nullopt));
  EXPECT_FALSE(auth.Allows("", Query("")));
  EXPECT_FALSE(auth.Allows("Bearer other", Query("new")));
}

TEST_F(TokenFileTest, ReloadReplacesTheTokens) {
  Write("old\n");
  auto auth = Authenticator::Load(path_).value();
  Write("new\n");
  auto reloaded = auth->Reload();
  ASSERT_TRUE(reloaded.ok()) << reloaded.error().message;
  EXPECT_EQ(reloaded.value(), 1u);
  EXPECT_FALSE(auth->Allows("Bearer old", std::nullopt));
  EXPECT_TRUE(auth->Allows("Bearer new", std::nullopt));
}

TEST_F(TokenFileTest, AFailedReloadKeepsTheOldTokens) {
  Write("old\n");
  auto auth = Authenticator::Load(path_).value();
  std::remove(path_.c_str());
  EXPECT_FALSE(auth->Reload().ok());
  EXPECT_TRUE(auth->Allows("Bearer old", std::nullopt));
  Write("\n# emptied\n");
  EXPECT_FALSE(auth->Reload().ok());
  EXPECT_TRUE(auth->Allows("Bearer old", std::nullopt));
  EXPECT_EQ(auth->size(), 1u);
}

}  // namespace
}  // namespace locktopus::server
