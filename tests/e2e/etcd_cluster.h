// Starts a real etcd cluster on free loopback ports for tests: one member or
// several, each with its own data directory under a temporary directory,
// and stops it. For the etcd client's tests and the HA tests that need a
// leader to kill. The members are started, and killed, paused or restarted,
// by the tree's cluster harness (tests/lib/cluster.mjs, run by node as a
// child process: `cluster.mjs etcd --control`), as for scripts/cluster.sh
// and the failover test.
//
// Members run with --heartbeat-interval 100 --election-timeout 1000 by
// default (docs/ha.md, Why it is safe): a leader killed is replaced in
// about a second, and a lease's TTL is at least 2 s (etcd raises shorter ones
// to 1.5 election timeouts).
//
// Thread safety: none; use a cluster from one thread.

#ifndef LOCKTOPUS_TESTS_E2E_ETCD_CLUSTER_H_
#define LOCKTOPUS_TESTS_E2E_ETCD_CLUSTER_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace locktopus::e2e {

class EtcdCluster {
 public:
  struct Options {
    int members = 1;
    int heartbeat_ms = 100;
    int election_timeout_ms = 1000;
  };

  // The etcd binary: $LOCKTOPUS_ETCD_BIN if set, else /usr/bin/etcd.
  static std::string Binary();
  // Whether Binary() exists and is executable, and node (which runs the
  // harness) was found at configure time; tests skip without them.
  static bool Available();

  // Starts the members and waits until every one answers and they agree on
  // a leader. Throws std::runtime_error, with the members' logs, if that
  // does not happen within 20 s (ports taken meanwhile are retried).
  explicit EtcdCluster(Options options);
  explicit EtcdCluster(int members = 1) : EtcdCluster(Options{members}) {}
  // Kills every member and removes the data (the harness does, on its
  // stdin's end). When the test has failed, first prints the end of each
  // member's log.
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const { return static_cast<int>(members_.size()); }
  std::uint16_t client_port(int member) const;
  std::string ClientUrl(int member) const;  // http://127.0.0.1:PORT
  // Every member's client URL, comma-separated, in member order.
  std::string ClientUrls() const;

  // SIGKILL, and waits for the process to end.
  void Kill(int member);
  // SIGSTOP / SIGCONT: a paused member keeps its sockets open and accepts
  // connections but answers nothing, like a hung machine.
  void Pause(int member);
  void Resume(int member);
  // Starts a killed member again on its data directory and ports.
  void Restart(int member);
  bool running(int member) const;

  // The member the running members (paused ones aside) agree is the raft
  // leader, by /v3/maintenance/status; nullopt if there is none yet.
  std::optional<int> Leader() const;
  // Polls Leader() until there is one, or `patience` has passed.
  std::optional<int> WaitForLeader(std::chrono::milliseconds patience);

  // Everything `member` has logged (etcd's JSON log lines).
  std::string Log(int member) const;
  const std::string& dir() const { return dir_; }

 private:
  struct Member {
    std::string name;
    std::uint16_t client_port = 0;
    std::string log;
    bool running = true;
  };

  // Sends one command line to the harness; its one-line answer.
  std::string Command(const std::string& line) const;
  // The harness's next line on stdout; throws if none comes in `patience`.
  std::string ReadLine(std::chrono::milliseconds patience) const;
  // Closes the harness's stdin, which stops the members, and reaps it.
  void StopHarness();

  std::string dir_;
  std::vector<Member> members_;
  int pid_ = -1;                 // the harness
  int to_ = -1;                  // its stdin
  int from_ = -1;                // its stdout
  mutable std::string pending_;  // read from stdout, not yet a whole line
};

}  // namespace locktopus::e2e

#endif  // LOCKTOPUS_TESTS_E2E_ETCD_CLUSTER_H_
