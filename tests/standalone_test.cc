// The standalone role over --state-dir (server/core/ha/standalone.h), on a
// real directory and a fake clock.

#include "server/core/ha/standalone.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace locktopus::server::ha {
namespace {

using std::chrono::milliseconds;

constexpr LockId kBlock = 1000;
constexpr milliseconds kAbandon{3000};

class StandaloneTest : public ::testing::Test, public NodeIo {
 protected:
  StandaloneTest() {
    char dir[] = "/tmp/locktopus-standalone-XXXXXX";
    EXPECT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  ~StandaloneTest() override { std::filesystem::remove_all(dir_); }

  // The process that ran a role has ended: its timers go with it.
  void End(std::unique_ptr<StandaloneRole> role) {
    role.reset();
    timers_.clear();
  }

  std::unique_ptr<StandaloneRole> Open() {
    auto opened = StateDir::Open(dir_, kAbandon, kBlock);
    if (!opened.ok()) {
      ADD_FAILURE() << opened.error().message;
      return nullptr;
    }
    return std::make_unique<StandaloneRole>(std::move(opened).value(), *this,
                                            gate_);
  }
  // Runs the timers due within `span` of the test's clock.
  void Run(Clock::duration span) {
    const Time end = now_ + span;
    while (!timers_.empty() && timers_.begin()->first <= end) {
      now_ = timers_.begin()->first;
      auto fn = std::move(timers_.begin()->second);
      timers_.erase(timers_.begin());
      fn();
    }
    now_ = end;
  }

  // NodeIo.
  Time Now() override { return now_; }
  std::chrono::system_clock::time_point WallNow() override {
    return std::chrono::system_clock::now();
  }
  void After(Clock::duration delay, std::function<void()> fn) override {
    timers_.emplace(now_ + delay, std::move(fn));
  }
  void SetIdFloor(LockId floor) override { floor_ = floor; }
  void RoleChanged(Role role, const std::string& why) override {
    roles_.push_back(role);
    why_ = why;
  }
  void Warn(const std::string& what) override { warned_ = what; }
  void Fence(const std::string& why) override { ADD_FAILURE() << why; }
  void Resigned(bool clean) override { resigned_ = clean; }

  std::string dir_;
  std::multimap<Time, std::function<void()>> timers_;
  Time now_ = Time(std::chrono::hours(1));
  GrantGate gate_;
  std::vector<Role> roles_;
  std::string why_;
  std::optional<std::string> warned_;
  std::optional<bool> resigned_;
  LockId floor_ = 0;
};

TEST_F(StandaloneTest, AFirstStartServesAtOnceAndACleanStopSkipsTheNextGrace) {
  {
    auto role = Open();
    role->Start();
    EXPECT_EQ(roles_, std::vector<Role>{Role::kServing});
    EXPECT_EQ(floor_, 0u);
    EXPECT_EQ(gate_.id_limit(), kBlock);
    EXPECT_TRUE(gate_.Announce(now_, 1, {}));
    role->Resign([] { return true; });
    EXPECT_EQ(resigned_, true);
    EXPECT_FALSE(gate_.Granting(now_));
  }
  roles_.clear();
  auto role = Open();
  role->Start();
  EXPECT_EQ(roles_, std::vector<Role>{Role::kServing});
  EXPECT_EQ(floor_, kBlock);
  EXPECT_EQ(gate_.id_limit(), 2 * kBlock);
}

TEST_F(StandaloneTest, AfterAnUncleanStopNothingIsGrantedForTheGrace) {
  End(Open());  // a run that never resigned: as after kill -9
  auto role = Open();
  role->Start();
  EXPECT_EQ(role->role(), Role::kGrace);
  EXPECT_NE(why_.find("did not stop cleanly"), std::string::npos) << why_;
  EXPECT_FALSE(gate_.Announce(now_, kBlock + 1, {}));  // held
  Run(kAbandon);
  EXPECT_EQ(role->role(), Role::kGrace);  // the margin is not over
  Run(StateDir::kMargin);
  EXPECT_EQ(role->role(), Role::kServing);
  EXPECT_TRUE(gate_.Announce(now_, kBlock + 1, {}));
}

// During the grace the last run's clients may still be at work: a stop
// then is not clean, and neither is one with a lock live.
TEST_F(StandaloneTest, AStopInTheGraceOrWithALockLiveIsNotClean) {
  Open()->Start();
  {
    auto role = Open();
    role->Start();
    bool asked = false;
    role->Resign([&asked] { return asked = true; });
    EXPECT_EQ(resigned_, false);
    EXPECT_FALSE(asked);
    EXPECT_NE(why_.find("stopped during the grace"), std::string::npos);
    End(std::move(role));
  }
  {
    auto role = Open();
    role->Start();
    Run(kAbandon + StateDir::kMargin);
    role->Resign([] { return false; });
    EXPECT_EQ(resigned_, false);
    End(std::move(role));
  }
  auto role = Open();
  role->Start();
  EXPECT_EQ(role->role(), Role::kGrace);
}

// The ceiling is raised at the middle of the block; a failed write is
// tried again until it succeeds, and nothing above the ceiling is
// announced meanwhile.
TEST_F(StandaloneTest, ARaiseThatFailsIsTriedAgain) {
  auto role = Open();
  role->Start();
  gate_.OnRaise([&role] { role->RaiseCeiling(); });
  // A directory in place of the scratch file makes the write fail.
  std::filesystem::create_directory(dir_ + "/record.tmp");
  EXPECT_TRUE(gate_.Announce(now_, kBlock / 2, {}));
  ASSERT_TRUE(warned_.has_value());
  EXPECT_NE(warned_->find("trying again"), std::string::npos) << *warned_;
  EXPECT_EQ(gate_.id_limit(), kBlock);
  EXPECT_FALSE(gate_.Announce(now_, kBlock + 1, {}));
  std::filesystem::remove(dir_ + "/record.tmp");
  Run(StandaloneRole::kRaiseRetry);
  EXPECT_EQ(gate_.id_limit(), 2 * kBlock);
  EXPECT_TRUE(gate_.Announce(now_, kBlock + 1, {}));
}

}  // namespace
}  // namespace locktopus::server::ha
