// locktopusctl's command line (client/ctl/locktopusctl.cc) against the real
// server: the address flags and the environment mean what --help says, TLS
// and tokens reach a protected server, `stats`, `status` and `namespaces`
// print what the server says, and usage errors and unreachable servers exit
// 2 and 4.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "locktopus/client.h"
#include "tests/e2e/ctl_fixture.h"
#include "tests/e2e/server_process.h"
#include "tests/e2e/test_certs.h"
#include "util/version.h"

namespace locktopus {
namespace {
using namespace locktopus::client;  // the API under test
using e2e::CtlTest;
using e2e::ServerProcess;
namespace fs = std::filesystem;

TEST_F(CtlTest, AddressFromUrlOrEnvironment) {
  ServerProcess server;
  Client watch_url = Watch(server, "from-url"),
         watch_other = Watch(server, "other");
  const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) +
                          "/v1?namespace=from-url";
  EXPECT_EQ(Run({"--url", url, "lock", "-w", "a", "--", "true"}), 0) << Err(0);
  EXPECT_EQ(StatsOf(server, "from-url").last_id, 1u);
  setenv("LOCKTOPUS_URL", url.c_str(), 1);
  EXPECT_EQ(Run({"lock", "-w", "a", "--", "true"}), 0) << Err(1);
  EXPECT_EQ(Run({"--namespace", "other", "lock", "-w", "a", "--", "true"}), 0);
  unsetenv("LOCKTOPUS_URL");
  EXPECT_EQ(StatsOf(server, "from-url").last_id, 2u);
  EXPECT_EQ(StatsOf(server, "other").last_id, 1u);
}

// --version prints the project's version (CMake's, as util/version.h has
// it) and exits 0, whatever else the command line says.
TEST_F(CtlTest, Version) {
  EXPECT_EQ(Run({"--version"}), 0) << Err(0);
  EXPECT_EQ(Out(0), "locktopusctl " + std::string(kVersion) + "\n");
  EXPECT_EQ(Run({"--port", "1", "--version", "status"}), 0) << Err(1);
  EXPECT_EQ(Out(1), Out(0));
  EXPECT_EQ(Err(1), "");
}

TEST_F(CtlTest, StatsAndStatus) {
  ServerProcess server;
  Client client("127.0.0.1", server.port(), "seen");
  Lock lock = client.lock({Write({"x"})});
  EXPECT_EQ(Run(Join(At(server), {"stats", "seen"})), 0);
  EXPECT_EQ(ReadStats(Out(0)).locks_acquired, 1u) << Out(0);
  EXPECT_EQ(Run(Join(At(server), {"stats", "never"})), 1);
  EXPECT_NE(Err(1).find("Namespace not found"), std::string::npos);
  EXPECT_EQ(Run(Join(At(server), {"status"})), 0) << Err(2);
  const std::string port = std::to_string(server.port());
  std::vector<std::string> lines;
  std::istringstream text(Out(2));
  for (std::string line; std::getline(text, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 6u) << Out(2);
  EXPECT_EQ(lines[0], "Server:       127.0.0.1:" + port);
  EXPECT_EQ(lines[1], "State:        serving (takes clients)");
  EXPECT_EQ(lines[2], "Connections:  1 open");
  EXPECT_EQ(lines[3], "Namespaces:   1 open, 1 opened since the start");
  EXPECT_TRUE(lines[4].starts_with("Locks:        1 acquired (held longest "))
      << lines[4];
  EXPECT_TRUE(lines[4].ends_with("), 0 enqueued")) << lines[4];
  EXPECT_TRUE(lines[5].starts_with("Lock memory:  ")) << lines[5];
  EXPECT_TRUE(lines[5].ends_with(" bytes (--max-lock-memory)")) << lines[5];
  EXPECT_EQ(Out(2).find('<'), std::string::npos) << "HTML: " << Out(2);
  EXPECT_EQ(Run(Join(At(server), {"status", "--json"})), 0) << Err(3);
  for (const std::string& field : std::vector<std::string>{
           "{\"server\":\"127.0.0.1:" + port + "\",\"tls\":false,",
           "\"ready\":true,\"state\":\"serving\",\"connections_open\":1,",
           "\"namespaces_open\":1,\"namespaces_opened\":1,",
           "\"locks_acquired\":1,\"locks_pending\":0,"}) {
    EXPECT_NE(Out(3).find(field), std::string::npos) << field << Out(3);
  }
  EXPECT_TRUE(Out(3).ends_with("}\n")) << Out(3);
}

// `stats` takes its namespace as the other commands do: --namespace, or the
// URL's (LOCKTOPUS_URL's too); NAMESPACE still names it and comes first.
TEST_F(CtlTest, StatsOfTheNamespaceOfTheAddress) {
  ServerProcess server;
  Client one("127.0.0.1", server.port(), "one");
  Lock held = one.lock({Write({"x"}), Write({"y"})});
  Client two("127.0.0.1", server.port(), "two");
  const std::string port = std::to_string(server.port());
  const std::string url = "ws://127.0.0.1:" + port + "/v1?namespace=two";
  ASSERT_EQ(Run(Join(At(server, "one"), {"stats"})), 0) << Err(0);
  EXPECT_EQ(ReadStats(Out(0)).resources_acquired, 2u) << Out(0);
  ASSERT_EQ(Run({"--port", port, "stats", "--namespace", "one"}), 0) << Err(1);
  EXPECT_EQ(ReadStats(Out(1)).resources_acquired, 2u) << Out(1);
  ASSERT_EQ(Run({"--url", url, "stats"}), 0) << Err(2);
  EXPECT_EQ(ReadStats(Out(2)).locks_acquired, 0u) << Out(2);
  setenv("LOCKTOPUS_URL", url.c_str(), 1);
  EXPECT_EQ(Run({"stats"}), 0) << Err(3);
  EXPECT_EQ(Run({"stats", "one"}), 0) << Err(4);
  EXPECT_EQ(Run({"--namespace", "nobody", "stats"}), 1);
  unsetenv("LOCKTOPUS_URL");
  EXPECT_EQ(ReadStats(Out(3)).locks_acquired, 0u) << Out(3);
  EXPECT_EQ(ReadStats(Out(4)).resources_acquired, 2u) << Out(4);
  EXPECT_NE(Err(5).find("Namespace not found"), std::string::npos) << Err(5);
}

// `namespaces` lists /namespaces_v1: the busiest first, a table or the
// server's JSON; an empty listing prints nothing on stdout.
TEST_F(CtlTest, Namespaces) {
  ServerProcess server;
  Client busy("127.0.0.1", server.port(), "busy-ns");
  Lock held = busy.lock({Write({"x"}), Read({"y"})});
  Client waiting("127.0.0.1", server.port(), "busy-ns");
  Lock queued = waiting.lock({Write({"x"})});
  Client idle("127.0.0.1", server.port(), "idle-ns");
  const auto at = At(server);
  ASSERT_EQ(Run(Join(at, {"namespaces"})), 0) << Err(0);
  EXPECT_EQ(Out(0),
            "ACQUIRED  ENQUEUED  NAMESPACE\n"
            "1         1         busy-ns\n"
            "0         0         idle-ns\n"
            "\n"
            "2 listed, 2 open now, 2 opened since the start.\n");
  ASSERT_EQ(Run(Join(at, {"namespaces", "--filter", "idle", "--json"})), 0);
  auto page = wire::ParseNamespacesPage(Out(1));
  ASSERT_TRUE(page.ok()) << Out(1);
  EXPECT_EQ(page.value(),
            (wire::NamespacesPage{
                .open = 2, .opened = 2, .namespaces = {{.name = "idle-ns"}}}));
  ASSERT_EQ(Run(Join(at, {"namespaces", "--limit", "1"})), 0) << Err(2);
  EXPECT_NE(Out(2).find("\n1 listed, 2 open now, 2 opened since the start. "
                        "More match: raise --limit (up to 1000).\n"),
            std::string::npos)
      << Out(2);
  EXPECT_EQ(Out(2).find("idle-ns"), std::string::npos) << Out(2);
  ASSERT_EQ(Run(Join(at, {"namespaces", "--filter", "none"})), 0) << Err(3);
  EXPECT_EQ(Out(3), "");
  EXPECT_EQ(Err(3),
            "No open namespace containing \"none\" (2 open now, 2 opened "
            "since the start).\n");
  EXPECT_EQ(Run(Join(at, {"namespaces", "--limit", "0"})), 2);
  EXPECT_NE(Err(4).find("--limit: 0 is not a number in 1..1000"),
            std::string::npos)
      << Err(4);
}

// A server with --tls-cert and --auth-token-file: lock, stats and status
// reach it given the CA and the token, from flags, the environment or a
// token file; without the token the server says 401, without the CA the
// certificate is refused; the token never appears in the output.
TEST_F(CtlTest, TlsAndToken) {
  std::optional<e2e::TestCerts> certs = e2e::TestCerts::Make();
  if (!certs) GTEST_SKIP() << "the openssl CLI is missing or failed";
  const std::string token = "s3cret-token-for-ctl";
  const std::string tokens = File("tokens");
  std::ofstream(tokens) << "# the first token is the one clients use\n"
                        << token << "\nsecond-token\n";
  ServerProcess server({"--tls-cert", certs->cert, "--tls-key", certs->key,
                        "--auth-token-file", tokens});
  const std::string port = std::to_string(server.port());
  const std::string url = "wss://127.0.0.1:" + port + "/v1?namespace=ns";
  const std::vector<std::string> tls = {"--url", url, "--ca-file", certs->ca};
  const std::vector<std::string> with_token = Join(tls, {"--token", token});
  std::string ctl_stats = std::string(LOCKTOPUSCTL_BIN);
  for (const std::string& arg : with_token) ctl_stats += " '" + arg + "'";
  ctl_stats += " stats ns";

  // 0: lock and, under it, stats of the namespace it holds.
  EXPECT_EQ(
      Run(Join(with_token, {"lock", "-w", "a", "--", "sh", "-c", ctl_stats})),
      0)
      << Err(0);
  EXPECT_EQ(ReadStats(Out(0)).locks_acquired, 1u) << Out(0);
  // 1: the CA and the token from the environment, a plain status page.
  setenv("LOCKTOPUS_CA_FILE", certs->ca.c_str(), 1);
  setenv("LOCKTOPUS_TOKEN", token.c_str(), 1);
  EXPECT_EQ(Run({"--url", url, "status"}), 0) << Err(1);
  EXPECT_NE(Out(1).find("Server:       127.0.0.1:" + port + " (TLS)\n"),
            std::string::npos)
      << Out(1);
  // 2: --tls with --host instead of a wss:// URL, by host name.
  EXPECT_EQ(Run({"--tls", "--host", "localhost", "--port", port, "status"}), 0)
      << Err(2);
  unsetenv("LOCKTOPUS_TOKEN");
  unsetenv("LOCKTOPUS_CA_FILE");
  // 3: the token from a file (its first token), a namespace nobody holds.
  EXPECT_EQ(Run(Join(tls, {"--token-file", tokens, "stats", "never"})), 1)
      << Err(3);
  EXPECT_NE(Err(3).find("Namespace not found"), std::string::npos) << Err(3);

  // 4, 5, 6: no token, or a wrong one: the server answers 401.
  const std::string ran = File("ran");
  EXPECT_EQ(Run(Join(tls, {"lock", "-w", "a", "--", "touch", ran})), 4);
  EXPECT_NE(Err(4).find("HTTP 401"), std::string::npos) << Err(4);
  EXPECT_EQ(Run(Join(tls, {"stats", "ns"})), 1);
  EXPECT_NE(Err(5).find("HTTP 401"), std::string::npos) << Err(5);
  EXPECT_EQ(Run(Join(tls, {"--token", "wrong-" + token, "lock", "-w", "a", "--",
                           "touch", ran})),
            4);
  EXPECT_NE(Err(6).find("HTTP 401"), std::string::npos) << Err(6);
  EXPECT_FALSE(fs::exists(ran));
  // 7, 8: without the CA the server's certificate is not trusted.
  EXPECT_EQ(Run({"--url", url, "--token", token, "status"}), 4);
  EXPECT_NE(Err(7).find("certificate"), std::string::npos) << Err(7);
  EXPECT_EQ(Run({"--url", url, "--token", token, "lock", "-w", "a", "--",
                 "touch", ran}),
            4);
  EXPECT_NE(Err(8).find("certificate"), std::string::npos) << Err(8);
  // 9, 10: a plain client to this server, a TLS client to a plain one.
  EXPECT_EQ(Run({"--port", port, "--token", token, "status"}), 4);
  ServerProcess plain;
  EXPECT_EQ(Run({"--tls", "--port", std::to_string(plain.port()), "--ca-file",
                 certs->ca, "status"}),
            4);
  EXPECT_FALSE(fs::exists(ran));

  for (int run = 0; run < runs_; ++run) {
    EXPECT_EQ((Out(run) + Err(run)).find(token), std::string::npos)
        << "run " << run << " printed the token";
  }
}

// Exit 2 before anything is sent, and never the token in the message.
TEST_F(CtlTest, UsageOfTheTokenTlsAndInspectorFlags) {
  const std::string tokens = File("tokens"), empty = File("empty");
  std::ofstream(tokens) << "t0ken\n";
  std::ofstream(empty) << "# nothing\n\n";
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"--token", "t0ken", "--token-file", tokens, "status"},
           {"--token-file", File("missing"), "status"},
           {"--token-file", empty, "status"},
           {"--ca-file", File("missing.pem"), "status"},
           {"lock", "--client-name", "a\nb", "-w", "a", "--", "true"},
           {"lock", "--client-name", std::string(129, 'n'), "-w", "a", "--",
            "true"},
           {"locks", "--limit", "0"},
           {"locks", "--limit", "1001"},
           {"locks", "a%zz"},
           {"why"},
           {"why", "x"},
           {"why", "3", ""},
           {"--token", "t0ken", "status", "t0ken"}}) {
    const int run = runs_;
    EXPECT_EQ(Run(args), 2) << args[0] << " " << args[1] << ": " << Err(run);
    EXPECT_EQ(Err(run).find("t0ken"), std::string::npos) << Err(run);
  }
  setenv("LOCKTOPUS_CA_FILE", File("missing.pem").c_str(), 1);
  EXPECT_EQ(Run({"status"}), 2);
  unsetenv("LOCKTOPUS_CA_FILE");
}

// The messages quote what was wrong, never the token, and nothing else is
// rewritten: a token of one letter leaves the words that hold it alone.
TEST_F(CtlTest, UsageMessagesQuoteTheOffendingValueOnly) {
  const std::string tokens = File("tokens");
  std::ofstream(tokens) << "x\n";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--token", "x", "--token-file", tokens, "status"},
       "locktopusctl: --token excludes --token-file\n"},
      {{"--token=e", "--port", "abc", "status"},
       "locktopusctl: --port: abc is not a number in 0..65535\n"},
      {{"--token", "-9", "--port", "70000", "status"},
       "locktopusctl: --port: 70000 is not a number in 0..65535\n"},
      {{"--token", "s", "locks", "--limit", "1001"},
       "locktopusctl: --limit: 1001 is not a number in 1..1000\n"},
      {{"--token", "t", "lock", "--abandon-timeout", "-1", "-w", "a", "--",
        "true"},
       "locktopusctl: --abandon-timeout: -1 is not a number of 0 or more\n"},
      {{"--token", "s3cret", "status", "s3cret", "extra"},
       "locktopusctl: The following arguments were not expected: <token> "
       "extra\n"},
  };
  // Bounded: a token found again in what replaces it made a search loop.
  const auto run_briefly = [&](const std::vector<std::string>& args) {
    return WaitWithin(Start(args), std::chrono::seconds(30));
  };
  for (const auto& [args, message] : cases) {
    const int run = runs_;
    EXPECT_EQ(run_briefly(args), 2) << Err(run);
    EXPECT_TRUE(Err(run).starts_with(message)) << Err(run);
  }
  setenv("LOCKTOPUS_TOKEN", "e", 1);
  const int run = runs_;
  EXPECT_EQ(run_briefly({"--port", "abc", "status"}), 2);
  unsetenv("LOCKTOPUS_TOKEN");
  EXPECT_TRUE(Err(run).starts_with(
      "locktopusctl: --port: abc is not a number in 0..65535\n"))
      << Err(run);
}

// A token that starts with '-' is a token, not a flag; and `lock` names its
// connection without the token, even when its command holds it.
TEST_F(CtlTest, TokensReachTheServerButNoName) {
  const std::string token = "-dash-token-1";
  const std::string tokens = File("tokens");
  std::ofstream(tokens) << token << "\n";
  ServerProcess server({"--auth-token-file", tokens});
  const std::string port = std::to_string(server.port());
  EXPECT_EQ(Run({"--port", port, "--token", token, "status"}), 0) << Err(0);
  EXPECT_EQ(Run({"--port", port, "--token", token, "--namespace", "named",
                 "lock", "-w", "a", "--", LOCKTOPUSCTL_BIN, "--token", token,
                 "--port", port, "--namespace", "named", "why", "1"}),
            0)
      << Err(1);
  EXPECT_NE(Out(1).find(" " LOCKTOPUSCTL_BIN " --token <token> --port "),
            std::string::npos)
      << Out(1);
  EXPECT_EQ(Out(1).find(token), std::string::npos) << Out(1);
}

TEST_F(CtlTest, UsageAndServerErrors) {
  ServerProcess server;
  const auto at = At(server);
  EXPECT_EQ(Run(Join(at, {"lock", "--", "true"})), 2);  // no path
  EXPECT_EQ(Run(Join(at, {"lock", "-w", "a%zz", "--", "true"})), 2);
  EXPECT_EQ(Run(Join(at, {"lock", "-w", "", "--", "true"})), 2);
  EXPECT_EQ(Run(Join(at, {"lock", "--timeout", "5x", "-w", "a", "--", "true"})),
            2);
  EXPECT_EQ(Run(Join(at, {"lock", "-w", "a"})), 2);  // no command
  EXPECT_EQ(Run({"--url", "ftp://x/v1", "status"}), 2);
  EXPECT_EQ(Run({}), 2);
  EXPECT_EQ(Run({"--help"}), 0);
  EXPECT_NE(Out(7).find("Exit codes"), std::string::npos);
  // Refused handshake, unreachable server: 4, and the command never runs.
  const std::string ran = File("ran");
  EXPECT_EQ(Run(Join(at, {"lock", "--abandon-timeout", "999999999999", "-w",
                          "a", "--", "touch", ran})),
            4);
  EXPECT_NE(Err(8).find("HTTP 400"), std::string::npos) << Err(8);
  std::uint16_t dead_port;
  {
    ServerProcess dead;
    dead_port = dead.port();
  }
  EXPECT_EQ(Run({"--port", std::to_string(dead_port), "lock", "-w", "a", "--",
                 "touch", ran}),
            4);
  EXPECT_EQ(Run({"--port", std::to_string(dead_port), "status"}), 4);
  EXPECT_FALSE(fs::exists(ran));
}

// Durations take hours beside ms, s and m; one over the range says so
// briefly.
TEST_F(CtlTest, DurationsTakeHours) {
  ServerProcess server;
  const auto at = At(server);
  EXPECT_EQ(Run(Join(at, {"lock", "--timeout", "5h", "--kill-grace", "1h", "-w",
                          "a", "--", "true"})),
            0)
      << Err(0);
  EXPECT_EQ(Run(Join(at, {"lock", "--timeout", "1.5h", "--kill-grace", "250ms",
                          "-w", "a", "--", "true"})),
            0)
      << Err(1);
  EXPECT_EQ(
      Run(Join(at, {"lock", "--timeout", "277778h", "-w", "a", "--", "true"})),
      2);
  EXPECT_TRUE(Err(2).starts_with("locktopusctl: --timeout: ")) << Err(2);
  EXPECT_LT(Err(2).size(), 150u) << Err(2);
  EXPECT_EQ(
      Run(Join(at, {"lock", "--kill-grace", "2d", "-w", "a", "--", "true"})),
      2);
}

}  // namespace
}  // namespace locktopus
