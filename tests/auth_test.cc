// --auth-token-file without sockets: the file format, the token a request
// carries, the comparison, and reloading.

#include "server/auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "server/routes.h"

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

TEST(RequestToken, BearerHeader) {
  EXPECT_EQ(RequestToken("Bearer abc", "/v1?namespace=x"), "abc");
  EXPECT_EQ(RequestToken("bearer   abc  ", "/"), "abc");
  EXPECT_EQ(RequestToken("BEARER abc", "/"), "abc");
}

TEST(RequestToken, QueryParameterWhenNoBearerHeader) {
  EXPECT_EQ(RequestToken("", "/v1?namespace=x&token=abc"), "abc");
  EXPECT_EQ(RequestToken("", "/v1?token=a%2Bb%20c&namespace=x"), "a+b c");
  EXPECT_EQ(RequestToken("Basic dXNlcjpwYXNz", "/?token=abc"), "abc");
  EXPECT_EQ(RequestToken("Bearer", "/?token=abc"), "abc");
}

TEST(RequestToken, TheHeaderWinsOverTheQuery) {
  EXPECT_EQ(RequestToken("Bearer head", "/?token=query"), "head");
}

TEST(RequestToken, NoneCarried) {
  EXPECT_EQ(RequestToken("", "/v1?namespace=x"), std::nullopt);
  EXPECT_EQ(RequestToken("Bearerabc", "/"), std::nullopt);
  EXPECT_EQ(RequestToken("Basic abc", "/"), std::nullopt);
  EXPECT_EQ(RequestToken("", "not a target"), std::nullopt);
}

TEST(IsOpenPath, OnlyHealthz) {
  EXPECT_TRUE(IsOpenPath("/healthz"));
  EXPECT_TRUE(IsOpenPath("/healthz?x=1"));
  EXPECT_TRUE(IsOpenPath("/readyz"));
  EXPECT_FALSE(IsOpenPath("/"));
  EXPECT_FALSE(IsOpenPath("/healthz/x"));
  EXPECT_FALSE(IsOpenPath("/v1?namespace=healthz"));
  EXPECT_FALSE(IsOpenPath("/stats_v1?namespace=x"));
  EXPECT_FALSE(IsOpenPath("/metrics"));
}

TEST(Routes, TheTokenParameterIsIgnoredByRouting) {
  const RouteLimits limits;
  EXPECT_EQ(RouteTarget("/v1?namespace=a&token=t&abandon-timeout-ms=5", limits),
            (Route{LockRoute{"a", 5}}));
  EXPECT_EQ(RouteTarget("/v1?token=t&namespace=a", limits),
            (Route{LockRoute{"a", std::nullopt}}));
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
  ASSERT_TRUE(std::holds_alternative<std::string>(read));
  EXPECT_NE(std::get<std::string>(read).find(path_), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<std::string>(Authenticator::Load(path_)));
}

TEST_F(TokenFileTest, AFileWithoutTokensIsAnError) {
  Write("# nothing yet\n\n");
  EXPECT_TRUE(std::holds_alternative<std::string>(ReadTokenFile(path_)));
}

TEST_F(TokenFileTest, ErrorsNeverHoldTheTokens) {
  Write("# comment\n");
  auto read = ReadTokenFile(path_);
  ASSERT_TRUE(std::holds_alternative<std::string>(read));
  EXPECT_EQ(std::get<std::string>(read).find("comment"), std::string::npos);
}

TEST_F(TokenFileTest, AllowsListedTokensAndTheOpenPath) {
  Write("old\nnew\n");
  auto loaded = Authenticator::Load(path_);
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<Authenticator>>(loaded));
  const Authenticator& auth = *std::get<std::unique_ptr<Authenticator>>(loaded);
  EXPECT_EQ(auth.size(), 2u);
  EXPECT_TRUE(auth.Allows("Bearer old", "/"));
  EXPECT_TRUE(auth.Allows("", "/v1?namespace=x&token=new"));
  EXPECT_FALSE(auth.Allows("", "/v1?namespace=x"));
  EXPECT_FALSE(auth.Allows("Bearer other", "/v1?namespace=x&token=new"));
  EXPECT_TRUE(auth.Allows("", "/healthz"));
}

TEST_F(TokenFileTest, ReloadReplacesTheTokens) {
  Write("old\n");
  auto auth =
      std::get<std::unique_ptr<Authenticator>>(Authenticator::Load(path_));
  Write("new\n");
  auto reloaded = auth->Reload();
  ASSERT_TRUE(std::holds_alternative<std::size_t>(reloaded));
  EXPECT_EQ(std::get<std::size_t>(reloaded), 1u);
  EXPECT_FALSE(auth->Allows("Bearer old", "/"));
  EXPECT_TRUE(auth->Allows("Bearer new", "/"));
}

TEST_F(TokenFileTest, AFailedReloadKeepsTheOldTokens) {
  Write("old\n");
  auto auth =
      std::get<std::unique_ptr<Authenticator>>(Authenticator::Load(path_));
  std::remove(path_.c_str());
  EXPECT_TRUE(std::holds_alternative<std::string>(auth->Reload()));
  EXPECT_TRUE(auth->Allows("Bearer old", "/"));
  Write("\n# emptied\n");
  EXPECT_TRUE(std::holds_alternative<std::string>(auth->Reload()));
  EXPECT_TRUE(auth->Allows("Bearer old", "/"));
  EXPECT_EQ(auth->size(), 1u);
}

}  // namespace
}  // namespace locktopus::server
