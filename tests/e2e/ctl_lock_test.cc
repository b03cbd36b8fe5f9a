// locktopusctl's `lock` (client/ctl/run_locked.cc) against the real server:
// lock-and-run serializes writers and lets readers share (proved by the
// order of lines the commands append to one file), --timeout exits 3 and
// leaves no lock behind, exit codes and signals pass through, connection
// loss is reported (exit 5), no process of a job outlives its lock (a
// signal or a lost connection stops its whole process group, a process left
// behind keeps the lock), a job at a terminal has its foreground, and the
// path syntax means what --help says.

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "locktopus/client.h"
#include "tests/e2e/ctl_fixture.h"
#include "tests/e2e/server_process.h"
#include "tests/e2e/tcp_relay.h"

namespace locktopus {
namespace {
using namespace locktopus::client;  // the API under test
using e2e::CtlTest;
using e2e::ReadFile;
using e2e::ServerProcess;
using e2e::TcpRelay;
using e2e::WaitForFile;
using std::chrono::seconds;
namespace fs = std::filesystem;

// Keeps a command running until a signal ends it, but not forever: after
// 60 s it exits 0, which fails the tests that expect it to be stopped.
const std::string kSpin =
    "i=0; while [ $i -lt 6000 ]; do sleep 0.01; i=$((i+1)); done";

// A job whose command ends at a signal but whose grandchild does not: the
// command (a shell) writes its PID to `pids`, then runs a shell that ignores
// SIGTERM, SIGINT and SIGHUP, writes its PID too, says "ready" in `log`, and
// goes on for 30 s before writing "late". The command does not end with the
// grandchild's shell (a last command could be exec'd in its place), and the
// grandchild's own children (each `sleep`) inherit what it ignores: only
// SIGKILL ends them.
std::vector<std::string> StubbornJob(const std::string& pids,
                                     const std::string& log) {
  return {"sh", "-c",
          "echo $$ >>" + pids + "; sh -c 'trap \"\" TERM INT HUP; echo $$ >>" +
              pids + "; echo ready >>" + log +
              "; i=0; while [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; "
              "echo late >>" +
              log + "'; true"};
}

// The PIDs a job wrote to `file`, one a line.
std::vector<pid_t> ReadPids(const fs::path& file) {
  std::vector<pid_t> pids;
  std::istringstream in(ReadFile(file));
  for (pid_t pid; in >> pid;) pids.push_back(pid);
  return pids;
}

// Whether process `pid` runs: it exists and is not a zombie (a zombie has
// ended; only its exit status waits for its parent).
bool Running(pid_t pid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const std::size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() &&
         stat[paren + 2] != 'Z';
}

// The PIDs of `pids` that still run, as text for a failure message.
std::string StillRunning(const std::vector<pid_t>& pids) {
  std::string running;
  for (pid_t pid : pids) {
    if (Running(pid)) running += " " + std::to_string(pid);
  }
  return running;
}

// Kills what a failed test left running, so that it does not outlive it.
void KillLeftovers(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) {
    if (Running(pid)) kill(pid, SIGKILL);
  }
}

// A command that writes "ready ID" (its lock's ID) to `log`, runs until
// `go` exists, then writes "done"; SIGTERM stops it with "stopped".
std::vector<std::string> HeldUntil(const std::string& log,
                                   const std::string& go) {
  return {"sh", "-c",
          "trap 'echo stopped >>" + log + "; exit 1' TERM; echo ready " +
              "$LOCKTOPUS_LOCK_ID >>" + log + "; while [ ! -e " + go +
              " ]; do sleep 0.01; done; echo done >>" + log};
}

// The ID a HeldUntil command wrote.
std::string ReadyId(const std::string& log) {
  const std::string text = ReadFile(log);
  return text.substr(6, text.find('\n') - 6);
}

// Checks that the lock of a HeldUntil command still stands: a second client
// waits behind it, lets the command go, sees `finish()` (its locktopusctl's
// exit code) be 0, and then gets the lock.
void ExpectStillHeld(const ServerProcess& server, const std::string& log,
                     const std::string& go, const std::string& id,
                     const std::function<int()>& finish) {
  Client second("127.0.0.1", server.port(), "ns");
  Lock lock = second.lock({Write({"a"})});
  EXPECT_FALSE(lock.acquired_at_once()) << "lock " << id << " is gone";
  std::ofstream(go).close();
  EXPECT_EQ(finish(), 0) << ReadFile(log);
  EXPECT_TRUE(lock.wait_for(seconds(20)));
}

// Runs a function when it goes out of scope, an ASSERT's return included.
class Cleanup {
 public:
  explicit Cleanup(std::function<void()> f) : f_(std::move(f)) {}
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;
  ~Cleanup() { f_(); }

 private:
  std::function<void()> f_;
};

// The first command holds the lock until the second is queued behind it;
// its lines come first, whole.
TEST_F(CtlTest, TwoWritersSerialize) {
  ServerProcess server;
  Client watch = Watch(server);
  const std::string log = File("log"), go = File("go");
  const pid_t first = Start(Join(
      At(server), {"lock", "-w", "a", "--", "sh", "-c",
                   "echo first-start >>" + log + "; while [ ! -e " + go +
                       " ]; do sleep 0.01; done; echo first-end >>" + log}));
  ASSERT_TRUE(WaitForFile(log, "first-start"));
  const pid_t second =
      Start(Join(At(server), {"lock", "-w", "a", "--", "sh", "-c",
                              "echo second-start >>" + log +
                                  "; echo second-end >>" + log}));
  // Queued behind the first, or (were it not) already running.
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (StatsOf(server).locks_pending != 1 &&
         ReadFile(log).find("second") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::ofstream(go).close();
  EXPECT_EQ(Wait(first), 0) << Err(0);
  EXPECT_EQ(Wait(second), 0) << Err(1);
  EXPECT_EQ(ReadFile(log),
            "first-start\nfirst-end\nsecond-start\nsecond-end\n");
  EXPECT_TRUE(Idle(StatsOf(server))) << StatsOf(server);
}

// The first reader waits for the second to run: possible only if they share.
TEST_F(CtlTest, ReadersShare) {
  ServerProcess server;
  const std::string log = File("log"), go = File("go");
  const pid_t first =
      Start(Join(At(server),
                 {"lock", "-r", "a", "--", "sh", "-c",
                  "echo first-start >>" + log + "; i=0; while [ ! -e " + go +
                      " ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; "
                      "echo first-end >>" +
                      log}));
  ASSERT_TRUE(WaitForFile(log, "first-start"));
  const pid_t second =
      Start(Join(At(server), {"lock", "-r", "a", "--", "sh", "-c",
                              "echo second >>" + log + "; touch " + go}));
  EXPECT_EQ(Wait(second), 0) << Err(1);
  EXPECT_EQ(Wait(first), 0) << Err(0);
  EXPECT_EQ(ReadFile(log), "first-start\nsecond\nfirst-end\n");
}

TEST_F(CtlTest, TimeoutExitsThreeAndLeavesNoLock) {
  ServerProcess server;
  Client holder("127.0.0.1", server.port(), "ns");
  Lock held = holder.lock({Write({"a"})});
  const std::string ran = File("ran");
  EXPECT_EQ(Run(Join(At(server), {"lock", "--timeout", "200ms", "-w", "a", "--",
                                  "touch", ran})),
            3);
  EXPECT_NE(Err(0).find("cancelled"), std::string::npos) << Err(0);
  // It waited for a holder, not for a grace: nothing says otherwise.
  EXPECT_EQ(Err(0).find("grace"), std::string::npos) << Err(0);
  EXPECT_FALSE(fs::exists(ran));
  EXPECT_TRUE(e2e::WaitForHttp(server, "/stats_v1?namespace=ns",
                               "\"GroupsPending\":0,\"GroupsAcquired\":1,",
                               seconds(20)))
      << StatsOf(server);
  // A plain number is seconds; a free lock needs no waiting at all.
  EXPECT_EQ(Run(Join(At(server), {"lock", "--timeout", "0", "-w", "b", "--",
                                  "touch", ran})),
            0);
  EXPECT_TRUE(fs::exists(ran));
}

// A server restarted on its --state-dir after a crash holds every
// acquisition for a grace (its largest abandon timeout + 1 s): `lock` says
// on stderr that it waits for that, and how long is left, then runs.
TEST_F(CtlTest, WaitingForTheGraceIsSaid) {
  const fs::path state = dir_ / "state";
  ASSERT_TRUE(fs::create_directory(state));
  const std::vector<std::string> flags = {"--state-dir",
                                          state.string(),
                                          "--max-abandon-timeout",
                                          "2000",
                                          "--default-abandon-timeout",
                                          "1000"};
  {
    ServerProcess crashed(flags);
    crashed.Signal(SIGKILL);
    crashed.WaitExit(seconds(5));
  }
  ServerProcess server(flags);
  const std::string ran = File("ran");
  EXPECT_EQ(Run(Join(At(server), {"lock", "-w", "a", "--", "touch", ran})), 0)
      << Err(0);
  EXPECT_TRUE(fs::exists(ran));
  const std::string said =
      "locktopusctl: waiting: the server is in its grace after a failover or "
      "restart, ";
  const std::size_t at = Err(0).find(said);
  ASSERT_NE(at, std::string::npos) << Err(0);
  const std::string left = Err(0).substr(at + said.size());
  EXPECT_TRUE(left == "3 s left\n" || left == "2 s left\n") << Err(0);
  // Past the grace, a lock that is free says nothing.
  EXPECT_EQ(Run(Join(At(server), {"lock", "-w", "a", "--", "true"})), 0);
  EXPECT_EQ(Err(1), "");
}

TEST_F(CtlTest, CommandSeesItsFencingToken) {
  ServerProcess server;
  const std::string log = File("log");
  const std::vector<std::string> run = {
      "lock", "-w", "a", "--", "sh", "-c", "echo $LOCKTOPUS_LOCK_ID >>" + log};
  EXPECT_EQ(Run(Join(At(server), run)), 0);
  EXPECT_EQ(Run(Join(At(server), run)), 0);
  EXPECT_EQ(ReadFile(log), "1\n2\n");
}

TEST_F(CtlTest, ExitCodesPassThrough) {
  ServerProcess server;
  Client watch = Watch(server);
  EXPECT_EQ(
      Run(Join(At(server), {"lock", "-w", "a", "--", "sh", "-c", "exit 7"})),
      7);
  EXPECT_EQ(Run(Join(At(server), {"lock", "-w", "a", "--", "true"})), 0);
  EXPECT_EQ(Run(Join(At(server),
                     {"lock", "-w", "a", "--", "sh", "-c", "kill -TERM $$"})),
            128 + SIGTERM);
  EXPECT_EQ(
      Run(Join(At(server), {"lock", "-w", "a", "--", "/nonexistent/command"})),
      127);
  // Every lock was released.
  const Stats stats = StatsOf(server);
  EXPECT_EQ(stats.last_id, 4u);
  EXPECT_TRUE(Idle(stats)) << stats;
}

TEST_F(CtlTest, SignalsReachTheCommand) {
  ServerProcess server;
  Client watch = Watch(server);
  const std::string log = File("log");
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) {
    std::ofstream(log, std::ios::trunc).close();
    const pid_t ctl =
        Start(Join(At(server), {"lock", "-w", "a", "--", "sh", "-c",
                                "trap 'echo got >>" + log +
                                    "; exit 9' TERM INT HUP; echo ready >>" +
                                    log + "; " + kSpin}));
    ASSERT_TRUE(WaitForFile(log, "ready"));
    kill(ctl, signal);
    EXPECT_EQ(Wait(ctl), 9) << "signal " << signal;
    EXPECT_EQ(ReadFile(log), "ready\ngot\n");
  }
  EXPECT_TRUE(Idle(StatsOf(server))) << StatsOf(server);
}

// Waits until process `pid` blocks SIGTERM (SigBlk in /proc), as
// locktopusctl does before it connects. If that takes over 10 s, kills it
// and returns false.
bool AwaitSigtermBlocked(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string status = ReadFile(path);
    const std::size_t at = status.find("SigBlk:");
    if (at != std::string::npos &&
        (std::stoull(status.substr(at + 7), nullptr, 16) >> (SIGTERM - 1) &
         1) != 0) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return false;
}

// SIGTERM at a random moment of locktopusctl's life: while it connects,
// waits for the lock (one run in four finds it held here until another
// random moment), starts the command, runs it, or releases the lock. Each
// time it must exit 9 (the command had the signal) or 143 (locktopusctl took
// it itself), and no lock may be left the moment it exits: with the server's
// default 60 s abandon timeout, one left to the server shows. One run in
// eight sends more signals soon after, which may land after the command has
// ended. The command ends only through a signal: one ending on its own could
// lose a signal arriving just as it exits, which no forwarder can prevent,
// and that run would look like a signal locktopusctl swallowed. The moments
// count from when locktopusctl blocks its signals: before that it is still
// loading or reading its command line, and a signal kills it the ordinary
// way, with nothing to undo.
TEST_F(CtlTest, SignalAtAnyMomentLeavesNoLock) {
  using std::chrono::microseconds;
  using std::chrono::steady_clock;
  ServerProcess server;
  Client watch = Watch(server);
  Client holder("127.0.0.1", server.port(), "ns");
  const char* given = std::getenv("LOCKTOPUS_TEST_SEED");
  const unsigned seed =
      given != nullptr ? std::stoul(given) : std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed) +
               " (replay with LOCKTOPUS_TEST_SEED)");
  std::mt19937 random(seed);
  const std::string ready = File("ready");
  const auto command = [&](const std::string& first) {
    return Join(At(server), {"lock", "-w", "some/path", "--", "sh", "-c",
                             "trap 'exit 9' TERM; " + first + kSpin});
  };

  // The moments are spread over twice the time the command takes to start.
  const pid_t first = Start(command("touch " + ready + "; "));
  ASSERT_TRUE(AwaitSigtermBlocked(first));
  const auto start = steady_clock::now();
  while (!fs::exists(ready)) {
    if (steady_clock::now() - start > seconds(30)) {
      kill(first, SIGKILL);
      Wait(first);
      FAIL() << "the command did not start: " << Err(0);
    }
    std::this_thread::sleep_for(microseconds(100));
  }
  const auto span = std::max<microseconds>(
      2 * std::chrono::duration_cast<microseconds>(steady_clock::now() - start),
      std::chrono::milliseconds(5));
  kill(first, SIGTERM);
  ASSERT_EQ(Wait(first), 9) << Err(0);
  const auto moment = [&] { return microseconds(random() % span.count()); };

  int forwarded = 0, taken = 0;
  for (int run = 1; run <= 200; ++run) {
    std::optional<Lock> held;
    microseconds release_at(0), signal_at = moment();
    if (random() % 4 == 0) {
      held = holder.lock({Write({"some", "path"})});
      release_at = moment();
      signal_at += moment();
    }
    const pid_t ctl = Start(command(""));
    ASSERT_TRUE(AwaitSigtermBlocked(ctl)) << "run " << run;
    const auto t0 = steady_clock::now();
    const auto release = [&] {
      std::this_thread::sleep_until(t0 + release_at);
      if (held) held->release();
    };
    if (release_at < signal_at) release();
    std::this_thread::sleep_until(t0 + signal_at);
    kill(ctl, SIGTERM);
    if (random() % 8 == 0) {
      for (int more = 1 + random() % 3; more > 0; --more) {
        std::this_thread::sleep_for(microseconds(random() % 15000));
        kill(ctl, SIGTERM);
      }
    }
    release();
    const int code = Wait(ctl);
    ASSERT_TRUE(code == 9 || code == 128 + SIGTERM)
        << "run " << run << " exited " << code << "; stderr: " << Err(run);
    ASSERT_TRUE(Idle(StatsOf(server)))
        << "run " << run << " exited " << code
        << " leaving a lock: " << StatsOf(server)
        << "; held by the test: " << (held ? "yes" : "no")
        << "; stderr: " << Err(run)
        << "; locks: " << e2e::HttpGet(server, "/locks_v1?namespace=ns").body;
    ++(code == 9 ? forwarded : taken);
  }
  // Both kinds of moments were hit, or the test proved little.
  EXPECT_GT(forwarded, 0) << "span " << span.count() << " us";
  EXPECT_GT(taken, 0) << "span " << span.count() << " us";
}

TEST_F(CtlTest, ConnectionLossIsReportedAndKillOnLossStops) {
  const std::string log = File("log");
  {
    ServerProcess server;
    const pid_t ctl = Start(Join(
        At(server),
        {"lock", "--no-session", "--kill-on-loss", "-w", "a", "--", "sh", "-c",
         "trap 'echo stopped >>" + log + "; exit 1' TERM; echo ready >>" + log +
             "; " + kSpin}));
    ASSERT_TRUE(WaitForFile(log, "ready"));
    server.Signal(SIGKILL);
    EXPECT_EQ(Wait(ctl), 5);
    EXPECT_EQ(ReadFile(log), "ready\nstopped\n");
  }
  EXPECT_NE(Err(0).find("connection to the server lost"), std::string::npos)
      << Err(0);
  // Without --kill-on-loss the command finishes, but its code does not
  // stand: whatever it did after the loss, it did without the lock. With
  // --lost-ok it does.
  for (const bool lost_ok : {false, true}) {
    std::ofstream(log, std::ios::trunc).close();
    const std::string go = File("go");
    fs::remove(go);
    ServerProcess server;
    std::vector<std::string> args = At(server);
    args.push_back("lock");
    args.push_back("--no-session");
    if (lost_ok) args.push_back("--lost-ok");
    const int run = runs_;
    const pid_t ctl =
        Start(Join(args, {"-w", "a", "--", "sh", "-c",
                          "echo ready >>" + log + "; while [ ! -e " + go +
                              " ]; do sleep 0.01; done; exit 6"}));
    ASSERT_TRUE(WaitForFile(log, "ready"));
    server.Signal(SIGKILL);
    ASSERT_TRUE(WaitForFile(dir_ / ("err" + std::to_string(run)),
                            "connection to the server lost"));
    std::ofstream(go).close();
    EXPECT_EQ(Wait(ctl), lost_ok ? 6 : 5) << Err(run);
  }
}

// SIGTERM or SIGINT sent to locktopusctl reaches every process of the job,
// not only the command: the command's grandchild, which ignores both, is
// given --kill-grace, then SIGKILL, and no second holder gets the lock while
// any process of the job still runs. (The command, a shell, dies of SIGTERM
// at once; on SIGINT it waits for its child first, as shells do, and so
// goes with the SIGKILL.)
TEST_F(CtlTest, SignalStopsTheWholeJobBeforeTheLockGoes) {
  ServerProcess server;
  for (const int signal : {SIGTERM, SIGINT}) {
    SCOPED_TRACE("signal " + std::to_string(signal));
    const std::string pids = File("pids" + std::to_string(signal)),
                      log = File("log" + std::to_string(signal));
    const int run = runs_;
    const pid_t ctl = Start(
        Join(At(server), Join({"lock", "--kill-grace", "1s", "-w", "a", "--"},
                              StubbornJob(pids, log))));
    ASSERT_TRUE(WaitForFile(log, "ready")) << Err(run);
    const std::vector<pid_t> job = ReadPids(pids);
    const Cleanup cleanup([&] { KillLeftovers(job); });
    ASSERT_EQ(job.size(), 2u);
    const auto signalled = std::chrono::steady_clock::now();
    kill(ctl, signal);

    Client second("127.0.0.1", server.port(), "ns");
    Lock lock = second.lock({Write({"a"})});
    ASSERT_TRUE(lock.acquired_at_once() || lock.wait_for(seconds(20)));
    const std::string running = StillRunning(job);
    const auto granted = std::chrono::steady_clock::now();
    EXPECT_EQ(running, "") << "the lock was granted again while these ran";
    // The grandchild had its grace before SIGKILL.
    EXPECT_GE(granted - signalled, std::chrono::milliseconds(900));
    EXPECT_EQ(ReadFile(log), "ready\n");
    EXPECT_EQ(Wait(ctl), 128 + (signal == SIGINT ? SIGKILL : signal))
        << Err(run);
    EXPECT_NE(Err(run).find("SIGKILL"), std::string::npos) << Err(run);
  }
}

// A command that leaves a process behind in its group (here a background
// job) keeps the lock until that process has ended too.
TEST_F(CtlTest, ProcessesLeftBehindKeepTheLock) {
  ServerProcess server;
  const std::string log = File("log");
  const pid_t ctl =
      Start(Join(At(server), {"lock", "-w", "a", "--", "sh", "-c",
                              "sh -c 'sleep 1; echo left-behind-done >>" + log +
                                  "' & echo command-done >>" + log}));
  ASSERT_TRUE(WaitForFile(log, "command-done")) << Err(0);
  Client second("127.0.0.1", server.port(), "ns");
  Lock lock = second.lock({Write({"a"})});
  ASSERT_TRUE(lock.acquired_at_once() || lock.wait_for(seconds(20)));
  EXPECT_NE(ReadFile(log).find("left-behind-done"), std::string::npos)
      << "granted again while the job ran: " << ReadFile(log);
  EXPECT_EQ(Wait(ctl), 0) << Err(0);
}

// With --kill-on-loss, a lost connection stops every process of the job, the
// grandchild that ignores SIGTERM included, before the server's abandon
// timeout gives the lock to the next holder. The network fails between
// locktopusctl and a server that stays up (a relay cut in the middle), so
// the server does give the lock away.
TEST_F(CtlTest, KillOnLossStopsTheWholeJob) {
  ServerProcess server;
  TcpRelay relay(server.port());
  const std::string pids = File("pids"), log = File("log");
  const std::vector<std::string> via_relay = AtPort(relay.port());
  const pid_t ctl = Start(Join(
      via_relay, Join({"lock", "--no-session", "--kill-on-loss", "--kill-grace",
                       "1s", "--abandon-timeout", "3000", "-w", "a", "--"},
                      StubbornJob(pids, log))));
  ASSERT_TRUE(WaitForFile(log, "ready")) << Err(0);
  const std::vector<pid_t> job = ReadPids(pids);
  const Cleanup cleanup([&] { KillLeftovers(job); });
  ASSERT_EQ(job.size(), 2u);
  Client second("127.0.0.1", server.port(), "ns");
  Lock lock = second.lock({Write({"a"})});
  ASSERT_FALSE(lock.acquired_at_once());

  relay.Cut();
  ASSERT_TRUE(lock.wait_for(seconds(20)));
  const std::string running = StillRunning(job);
  EXPECT_EQ(running, "") << "the lock was granted again while these ran";
  EXPECT_EQ(ReadFile(log), "ready\n");
  EXPECT_EQ(Wait(ctl), 5) << Err(0);
  EXPECT_NE(Err(0).find("connection to the server lost"), std::string::npos)
      << Err(0);
}

// `lock` in its session (the default) through a relay, and what a resumed
// session must have kept.
class CtlSessionTest : public CtlTest {
 protected:
  // Holds "a" (abandon timeout 5 s, --kill-on-loss) through `relay` with a
  // HeldUntil(log, go) command.
  pid_t StartSessionHolder(const TcpRelay& relay, const std::string& log,
                           const std::string& go) {
    return Start(Join(AtPort(relay.port()),
                      Join({"lock", "--kill-on-loss", "--abandon-timeout",
                            "5000", "-w", "a", "--"},
                           HeldUntil(log, go))));
  }
  // The session was resumed with lock `id` acquired, the lock stood all
  // along (ExpectStillHeld), and it was never lost.
  void ExpectResumedAndHeld(const ServerProcess& server, pid_t ctl,
                            const std::string& log, const std::string& go,
                            const std::string& id) {
    EXPECT_NE(Err(0).find("holds lock " + id + ", acquired"), std::string::npos)
        << "ID " << id << ": " << Err(0);
    ExpectStillHeld(server, log, go, id, [&] { return Wait(ctl); });
    EXPECT_EQ(ReadFile(log), "ready " + id + "\ndone\n") << Err(0);
    // (A drop's own reason may say "connection lost: ...": not the lock.)
    EXPECT_EQ(Err(0).find("session lost"), std::string::npos) << Err(0);
    EXPECT_EQ(Err(0).find("connection to the server lost"), std::string::npos)
        << Err(0);
  }
};

// In its session (the default), `lock` survives a cut of its connection:
// it reconnects through the relay and resumes, the command runs on, not
// stopped by --kill-on-loss, and the lock keeps its ID: a second client
// still waits behind it until the command ends.
TEST_F(CtlSessionTest, TheLockSurvivesACutOfItsConnection) {
  ServerProcess server;
  TcpRelay relay(server.port());
  const std::string log = File("log"), go = File("go");
  const pid_t ctl = StartSessionHolder(relay, log, go);
  ASSERT_TRUE(WaitForFile(log, "ready")) << Err(0);
  const std::string id = ReadyId(log);
  relay.Cut();
  ASSERT_TRUE(WaitForFile(dir_ / "err0", "session resumed", seconds(10)))
      << Err(0);
  EXPECT_NE(Err(0).find("connection to the server dropped"), std::string::npos)
      << Err(0);
  ExpectResumedAndHeld(server, ctl, log, go, id);
}

// In its session, `lock` also survives a connection that goes silent
// without ending (the relay stops forwarding, every socket left open), for
// less than the window less the margin: it gives the connection up once the
// server was last heard from half the silence limit ago (2 s for an
// abandon timeout of 5 s), resumes the session on a new connection once the
// network is back, and keeps the lock and its ID.
TEST_F(CtlSessionTest, TheLockSurvivesASilentConnection) {
  ServerProcess server;
  TcpRelay relay(server.port());
  const std::string log = File("log"), go = File("go");
  const pid_t ctl = StartSessionHolder(relay, log, go);
  ASSERT_TRUE(WaitForFile(log, "ready")) << Err(0);
  const std::string id = ReadyId(log);
  // Silent until half a second after the connection is given up, 1 to 2 s
  // into the pause (its last proof of life is then up to a ping interval,
  // 1 s, old): at most 2.5 s, while the lock is lost only after 3 s.
  relay.Pause(true);
  ASSERT_TRUE(WaitForFile(dir_ / "err0", "silent", seconds(10))) << Err(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  relay.Pause(false);
  ASSERT_TRUE(WaitForFile(dir_ / "err0", "session resumed", seconds(10)))
      << Err(0);
  ExpectResumedAndHeld(server, ctl, log, go, id);
}

// A cut that lasts longer than the session's window less the margin (1.6 s
// for an abandon timeout of 2 s) loses the lock: --kill-on-loss stops the
// command, exit 5, no later than the abandon timeout after the server was
// last heard from.
TEST_F(CtlTest, ACutLongerThanTheWindowLosesTheLock) {
  ServerProcess server;
  TcpRelay relay(server.port());
  const std::string log = File("log");
  const std::vector<std::string> via_relay = AtPort(relay.port());
  const pid_t ctl = Start(Join(
      via_relay, {"lock", "--kill-on-loss", "--abandon-timeout", "2000", "-w",
                  "a", "--", "sh", "-c",
                  "trap 'echo stopped >>" + log +
                      "; exit 1' TERM; echo ready >>" + log + "; " + kSpin}));
  ASSERT_TRUE(WaitForFile(log, "ready")) << Err(0);
  relay.Refuse(true);
  relay.Cut();
  const auto cut = std::chrono::steady_clock::now();
  const std::optional<int> code = WaitWithin(ctl, seconds(10));
  ASSERT_TRUE(code) << Err(0);
  EXPECT_EQ(*code, 5) << Err(0);
  EXPECT_LT(std::chrono::steady_clock::now() - cut,
            std::chrono::milliseconds(2000 + 250));
  EXPECT_EQ(ReadFile(log), "ready\nstopped\n");
  EXPECT_NE(Err(0).find("session lost"), std::string::npos) << Err(0);
  EXPECT_NE(Err(0).find("connection to the server lost"), std::string::npos)
      << Err(0);
}

// With --kill-on-loss, a server that goes silent (SIGSTOP) counts as lost
// once the client's silence limit has passed since it was last heard from
// (1.6 s for an abandon timeout of 2 s), and the job is stopped then: every
// process of it is gone, the grandchild that ignores SIGTERM included, by the
// time the abandon timeout has passed, however long --kill-grace is.
TEST_F(CtlTest, KillOnLossActsOnASilentServer) {
  ServerProcess server;
  const std::string pids = File("pids"), log = File("log");
  const pid_t ctl = Start(
      Join(At(server), Join({"lock", "--kill-on-loss", "--kill-grace", "30s",
                             "--abandon-timeout", "2000", "-w", "a", "--"},
                            StubbornJob(pids, log))));
  ASSERT_TRUE(WaitForFile(log, "ready")) << Err(0);
  const std::vector<pid_t> job = ReadPids(pids);
  const Cleanup cleanup([&] {
    server.Signal(SIGCONT);
    KillLeftovers(job);
  });
  ASSERT_EQ(job.size(), 2u);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(server.Pause(seconds(5)));
  const auto stopped = std::chrono::steady_clock::now();
  const std::optional<int> code = WaitWithin(ctl, seconds(10));
  const auto ended = std::chrono::steady_clock::now();
  const std::string running = StillRunning(job);
  ASSERT_TRUE(code) << "the silence went unnoticed: " << Err(0);
  EXPECT_EQ(*code, 5) << Err(0);
  EXPECT_EQ(running, "");
  EXPECT_LT(ended - stopped, std::chrono::milliseconds(2000 + 250)) << Err(0);
  EXPECT_NE(Err(0).find("silent"), std::string::npos) << Err(0);
}

// At a terminal (locktopusctl in its foreground, here a pseudo-terminal it
// runs on as a session leader), the job has the foreground while it runs: it
// reads from the terminal instead of being stopped for it (SIGTTIN), and the
// terminal's Ctrl-C reaches its grandchild. Then the lock is released.
TEST_F(CtlTest, AtATerminalTheJobHasTheForeground) {
  ServerProcess server;
  const int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(master, 0);
  const Cleanup close_master([&] { close(master); });
  ASSERT_EQ(grantpt(master), 0);
  ASSERT_EQ(unlockpt(master), 0);
  const std::string terminal = ptsname(master);
  const std::string pids = File("pids"), log = File("log");
  std::vector<std::string> all = {LOCKTOPUSCTL_BIN};
  for (const std::string& arg :
       Join(At(server),
            {"lock", "-w", "a", "--", "sh", "-c",
             "echo $$ >>" + pids + "; read line; echo \"read $line\" >>" + log +
                 "; sh -c 'trap \"echo interrupted >>" + log +
                 "; exit 3\" INT; echo ready >>" + log + "; " + kSpin +
                 "'; true"})) {
    all.push_back(arg);
  }
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  // A session of its own, whose first terminal opened is its controlling
  // terminal, with locktopusctl's group in the foreground.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (const int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
    posix_spawn_file_actions_addopen(&actions, fd, terminal.c_str(), O_RDWR, 0);
  }
  pid_t ctl = -1;
  ASSERT_EQ(posix_spawn(&ctl, argv[0], &actions, &attr, argv.data(), environ),
            0);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  // What locktopusctl and the job write to the terminal, kept for a failure
  // message, and read so that the terminal never blocks them.
  std::string screen;
  std::mutex screen_mu;
  std::atomic<bool> done = false;
  std::thread reader([&] {
    char buffer[4096];
    while (!done) {
      pollfd ready = {master, POLLIN, 0};
      if (poll(&ready, 1, 10) <= 0) continue;
      const ssize_t n = read(master, buffer, sizeof buffer);
      if (n <= 0) return;  // EIO once nothing has the terminal open
      std::lock_guard lock(screen_mu);
      screen.append(buffer, n);
    }
  });
  bool reaped = false;
  const Cleanup join([&] {
    if (!reaped) {
      kill(ctl, SIGKILL);
      waitpid(ctl, nullptr, 0);
    }
    done = true;
    reader.join();
  });
  const auto Screen = [&] {
    std::lock_guard lock(screen_mu);
    return screen;
  };

  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (ReadPids(pids).empty() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(ReadPids(pids).empty()) << Screen();
  const pid_t job = ReadPids(pids)[0];
  EXPECT_EQ(tcgetpgrp(master), job) << "the job's group has the foreground";
  ASSERT_EQ(write(master, "typed\n", 6), 6);
  ASSERT_TRUE(WaitForFile(log, "ready", seconds(10)))
      << "the job could not read from the terminal: " << ReadFile(log) << "; "
      << Screen();
  ASSERT_EQ(write(master, "\x03", 1), 1);  // Ctrl-C
  ASSERT_TRUE(WaitForFile(log, "interrupted", seconds(10))) << Screen();
  EXPECT_EQ(ReadFile(log), "read typed\nready\ninterrupted\n");
  int status = 0;
  ASSERT_EQ(waitpid(ctl, &status, 0), ctl);
  reaped = true;
  EXPECT_TRUE(WIFEXITED(status)) << Screen();
  Client second("127.0.0.1", server.port(), "ns");
  EXPECT_TRUE(second.lock({Write({"a"})}).acquired_at_once());
}

// -w 'a%2Fb/c' is the path {"a/b","c"}; -w / is the whole namespace.
TEST_F(CtlTest, PathSyntax) {
  ServerProcess server;
  const std::string log = File("log"), go = File("go");
  const std::string hold = "echo ready >>" + log + "; while [ ! -e " + go +
                           " ]; do sleep 0.01; done";
  const pid_t ctl = Start(
      Join(At(server), {"lock", "-w", "a%2Fb/c", "--", "sh", "-c", hold}));
  ASSERT_TRUE(WaitForFile(log, "ready"));
  Client client("127.0.0.1", server.port(), "ns");
  EXPECT_FALSE(client.lock({Write({"a/b"})}).acquired_at_once());
  EXPECT_TRUE(client.lock({Write({"a"})}).acquired_at_once());
  std::ofstream(go).close();
  EXPECT_EQ(Wait(ctl), 0) << Err(0);

  fs::remove(go);
  std::ofstream(log, std::ios::trunc).close();
  const pid_t whole =
      Start(Join(At(server), {"lock", "-w", "/", "--", "sh", "-c", hold}));
  ASSERT_TRUE(WaitForFile(log, "ready"));
  EXPECT_FALSE(client.lock({Read({"anything"})}).acquired_at_once());
  std::ofstream(go).close();
  EXPECT_EQ(Wait(whole), 0) << Err(1);
}

}  // namespace
}  // namespace locktopus
