// Which group a namespace belongs to (server/core/shard.h), and the 421
// that a server answers for another group's namespace.

#include "server/core/shard.h"

#include <gtest/gtest.h>

#include <memory>

#include "server/core/handler.h"

namespace locktopus::server {
namespace {

TEST(Shard, Crc32IsZlibs) {
  // The check value of CRC-32/ISO-HDLC, which HAProxy's crc32 computes.
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(Crc32(""), 0u);
}

TEST(Shard, TheOwnerIsTheCrcModTheNumberOfGroups) {
  auto made = ShardMap::Make("a,b,c", "b");
  ASSERT_TRUE(made.ok()) << made.error().message;
  const ShardMap& map = made.value();
  EXPECT_EQ(map.self(), 1u);
  EXPECT_EQ(map.Owner("123456789"), 0xCBF43926u % 3);  // 2
  EXPECT_EQ(map.Owner("123456789"), 2u);
  EXPECT_EQ(map.Text(), "a,b,c");
  EXPECT_FALSE(map.Mine("123456789"));
}

TEST(Shard, OneGroupOwnsEverything) {
  const ShardMap map = ShardMap::Make("", "g").value();
  EXPECT_EQ(map.groups(), std::vector<std::string>{"g"});
  EXPECT_TRUE(map.Mine("123456789"));
  EXPECT_TRUE(map.Mine(""));
}

TEST(Shard, RefusesABadList) {
  auto error = [](std::string_view groups, std::string_view self) {
    auto made = ShardMap::Make(groups, self);
    return made.ok() ? std::string("(accepted)") : made.error().message;
  };
  const std::string bad =
      "a group name must not be empty, nor contain '/', ',', white space or "
      "control characters";
  EXPECT_EQ(error("a,b", "c"), "this server's group [c] is not listed");
  EXPECT_EQ(error("a,,b", "a"), bad);
  EXPECT_EQ(error("a,b/c", "a"), bad);
  EXPECT_EQ(error("a,b c", "a"), bad);
  // One group named "a,b" would have the map text of the groups a and b.
  EXPECT_EQ(error("", "a,b"), bad);
  EXPECT_EQ(error("a,b,a", "a"), "the group [a] is listed twice");
}

class MisdirectedTest : public ::testing::Test {
 protected:
  // A server of group `self` in the map a,b,c.
  static std::shared_ptr<ServerState> Server(std::string self) {
    Config config;
    config.ha_groups = "a,b,c";
    config.ha_group = std::move(self);
    return std::make_shared<ServerState>(std::move(config));
  }
  static unsigned Status(const std::shared_ptr<ServerState>& state,
                         std::string_view target, bool upgrade = false) {
    const Handled handled =
        HandleRequest({.target = target, .websocket_upgrade = upgrade}, state);
    if (std::holds_alternative<Upgrade>(handled)) return 101;
    return std::get<HttpResponse>(handled).status;
  }
};

TEST_F(MisdirectedTest, AnotherGroupsNamespaceIsRefusedWith421) {
  // "123456789" belongs to group c (index 2).
  const auto b = Server("b");
  const Handled handled = HandleRequest(
      {.target = "/v1?namespace=123456789", .websocket_upgrade = true}, b);
  ASSERT_TRUE(std::holds_alternative<HttpResponse>(handled));
  EXPECT_EQ(std::get<HttpResponse>(handled),
            (HttpResponse{.status = 421,
                          .body = "Misdirected Request: namespace [123456789] "
                                  "belongs to group [c] (2 of 3); this server "
                                  "serves group [b]"}));
  EXPECT_EQ(Status(b, "/stats_v1?namespace=123456789"), 421u);
  EXPECT_EQ(Status(b, "/locks_v1?namespace=123456789"), 421u);
  // Decoded before it is hashed, as the proxy does.
  EXPECT_EQ(Status(b, "/v1?namespace=12345%36789", true), 421u);
  EXPECT_EQ(b->connections.load(), 0u);
}

TEST_F(MisdirectedTest, TheOwnerTakesIt) {
  const auto c = Server("c");
  EXPECT_EQ(Status(c, "/v1?namespace=123456789", true), 101u);
  EXPECT_EQ(Status(c, "/stats_v1?namespace=123456789"), 404u);
  // Without a namespace: the server's own 400, whatever the group.
  EXPECT_EQ(Status(c, "/v1", true), 400u);
  EXPECT_EQ(Status(c, "/metrics"), 200u);
}

}  // namespace
}  // namespace locktopus::server
