// locktopusctl's parts without I/O: the client names `lock` sends.

#include <gtest/gtest.h>

#include "client/ctl/client_name.h"

namespace locktopus::ctl {
namespace {

// ---- Client names -------------------------------------------------------

TEST(ClientNameTest, DefaultIsHostPidAndCommand) {
  EXPECT_EQ(DefaultClientName("build-7", 4242, {"./job.sh", "--day", "3"}),
            "build-7:4242 ./job.sh --day 3");
  EXPECT_EQ(DefaultClientName("h", 1, {"sh", "-c", "echo a\necho\tb"}),
            "h:1 sh -c echo a echo b");
  EXPECT_EQ(DefaultClientName("h", 1, {"x\xff\xfey"}), "h:1 x??y");
  EXPECT_EQ(DefaultClientName("h", 1, {"é\u0085ü"}), "h:1 é ü");
}

TEST(ClientNameTest, CutToTheLimitWithoutSplittingACharacter) {
  const std::string ascii(200, 'a');
  EXPECT_EQ(FitClientName(ascii), std::string(128, 'a'));
  // 127 bytes, then a two-byte character that does not fit.
  EXPECT_EQ(FitClientName(std::string(127, 'a') + "é"), std::string(127, 'a'));
  EXPECT_EQ(FitClientName(std::string(126, 'a') + "é"),
            std::string(126, 'a') + "é");
  // A four-byte character at the edge.
  EXPECT_EQ(FitClientName(std::string(125, 'a') + "🐙"), std::string(125, 'a'));
  EXPECT_EQ(FitClientName(std::string(124, 'a') + "🐙").size(), 128u);
  const std::string name =
      DefaultClientName("host", 99, {std::string(300, 'x')});
  EXPECT_EQ(name.size(), 128u);
  EXPECT_TRUE(name.starts_with("host:99 xxx"));
  EXPECT_EQ(FitClientName("fine ü"), "fine ü");
}

}  // namespace
}  // namespace locktopus::ctl
