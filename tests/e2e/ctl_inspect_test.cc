// locktopusctl's `locks` and `why` (client/ctl/inspect.cc) against the
// server's /locks_v1 and against canned answers: who waits for whom, and
// what they ask the inspector for.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "locktopus/client.h"
#include "tests/e2e/ctl_fixture.h"
#include "tests/e2e/server_process.h"

namespace locktopus {
namespace {
using namespace locktopus::client;  // the API under test
using e2e::CtlTest;
using e2e::ServerProcess;

// `locks` and `why` against the server's /locks_v1, with a holder of
// write a/b (job-1), a waiter read a (job-2) and a waiter write a/b/c
// (job-3, waiting for both). A namespace nobody opened is 404 "Namespace
// not found", not the 404 "Not found" of a path the server does not know:
// it has no live lock, which `locks` and `why` say as of an open one.
TEST_F(CtlTest, LocksAndWhy) {
  ServerProcess server;
  const e2e::HttpReply probe =
      e2e::HttpGet(server, "/locks_v1?namespace=never-opened");
  EXPECT_EQ(probe.status, 404) << probe.body;
  EXPECT_EQ(probe.body, "Namespace not found");

  const auto named = [&](const std::string& name) {
    ServerAddress address;
    address.host = server.host();
    address.port = server.port();
    address.ns = "ns";
    address.client_name = name;
    return Client(address);
  };
  Client one = named("job-1"), two = named("job-2"), three = named("job-3");
  Lock held = one.lock({Write({"a", "b"})});
  Lock reader = two.lock({Read({"a"})});
  Lock writer = three.lock({Write({"a", "b", "c"})});
  ASSERT_TRUE(held.acquired_at_once());
  ASSERT_EQ(reader.fencing_token(), 2u);
  ASSERT_EQ(writer.fencing_token(), 3u);

  ASSERT_EQ(Run(Join(At(server), {"why", "3"})), 0) << Err(0);
  const std::string why = Out(0);
  EXPECT_EQ(why.rfind("lock 3  enqueued  write a/b/c  (job-3, waiting ", 0), 0u)
      << why;
  EXPECT_NE(why.find("waits for lock 1  acquired  write a/b  (job-1, held "),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("waits for lock 2  enqueued  read a  (job-2, waiting "),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("<- root"), std::string::npos) << why;
  EXPECT_NE(why.find("\nRoot: lock 1, held "), std::string::npos) << why;
  EXPECT_NE(why.find(" by job-1 (peer 127.0.0.1:"), std::string::npos) << why;
  EXPECT_EQ(why.find("Root: lock 2"), std::string::npos) << why;

  ASSERT_EQ(Run(Join(At(server), {"locks"})), 0) << Err(1);
  const std::string table = Out(1);
  for (const std::string& row : {"\n1   acquired  write a/b    job-1 ",
                                 "\n2   enqueued  read a       job-2 ",
                                 "\n3   enqueued  write a/b/c  job-3 "}) {
    EXPECT_NE(table.find(row), std::string::npos) << row << " in\n" << table;
  }
  EXPECT_NE(table.find("\n3 listed, 3 live in namespace \"ns\"."),
            std::string::npos)
      << table;
  std::istringstream lines(table);
  for (std::string line; std::getline(lines, line);) {
    // Rows, not the count line below them.
    if (line.starts_with("2   ")) EXPECT_TRUE(line.ends_with("  1")) << line;
    if (line.starts_with("3   ")) EXPECT_TRUE(line.ends_with("  1 2")) << line;
  }

  EXPECT_EQ(Run(Join(At(server), {"locks", "a/b/c", "--limit", "2"})), 0);
  EXPECT_NE(Out(2).find("2 listed overlapping a/b/c, 3 live"),
            std::string::npos)
      << Out(2);
  EXPECT_EQ(Run(Join(At(server), {"locks", "z"})), 0);
  EXPECT_EQ(Out(3), "");
  EXPECT_EQ(Err(3),
            "No live locks overlapping z in namespace \"ns\" (3 live in "
            "all).\n");
  EXPECT_EQ(Run(Join(At(server), {"why", "1"})), 0);
  EXPECT_NE(Out(4).find("waits for nothing"), std::string::npos) << Out(4);
  EXPECT_EQ(Run(Join(At(server), {"why", "99"})), 0);
  EXPECT_NE(Out(5).find("lock 99 is not live"), std::string::npos) << Out(5);
  EXPECT_EQ(Run(Join(At(server, "never"), {"locks"})), 0) << Err(6);
  EXPECT_EQ(Out(6), "");
  EXPECT_EQ(Err(6), "No live locks in namespace \"never\" (0 live in all).\n");
  EXPECT_EQ(Run(Join(At(server, "never"), {"why", "1"})), 0) << Err(7);
  EXPECT_EQ(Out(7),
            "lock 1 is not live in namespace \"never\" (released, cancelled, "
            "or never taken).\n");

  // `lock` names itself HOST:PID COMMAND...: seen by its own command.
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_EQ(Run(Join(At(server), {"lock", "-w", "q", "--", LOCKTOPUSCTL_BIN,
                                  "--port", std::to_string(server.port()),
                                  "--namespace", "ns", "locks", "q"})),
            0)
      << Err(8);
  EXPECT_NE(Out(8).find(std::string(host) + ":"), std::string::npos) << Out(8);
}

// An HTTP server on a loopback port that answers every GET with
// answer(target), and keeps each request's target and Authorization header:
// what locktopusctl asks /locks_v1 for, before the server has the route.
class CannedHttpServer {
 public:
  struct Reply {
    unsigned status = 200;
    std::string body;
  };
  explicit CannedHttpServer(std::function<Reply(const std::string&)> answer)
      : answer_(std::move(answer)) {
    namespace net = boost::asio;
    acceptor_.open(net::ip::tcp::v4());
    acceptor_.bind({net::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    thread_ = std::thread([this] {
      namespace http = boost::beast::http;
      for (;;) {
        boost::system::error_code ec;
        net::ip::tcp::socket socket = acceptor_.accept(ec);
        if (ec) return;  // shut down by the destructor
        boost::beast::flat_buffer buffer;
        http::request<http::string_body> request;
        http::read(socket, buffer, request, ec);
        if (ec) continue;
        const std::string target(request.target());
        {
          std::lock_guard lock(mu_);
          requests_.push_back(
              {target, std::string(request[http::field::authorization])});
        }
        const Reply reply = answer_(target);
        http::response<http::string_body> response{
            static_cast<http::status>(reply.status), 11};
        response.body() = reply.body;
        response.prepare_payload();
        http::write(socket, response, ec);
      }
    });
  }
  ~CannedHttpServer() {
    // Wakes the blocked accept (closing alone would not), then closes.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    thread_.join();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  // {target, Authorization header} of each request so far.
  std::vector<std::pair<std::string, std::string>> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  std::function<Reply(const std::string&)> answer_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_{ioc_};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> requests_;
};

// What `locks` and `why` ask /locks_v1 for, and the exit codes of its
// answers, against canned ones: the namespace and PATH percent-encoded
// (PATH as typed), --limit, the token as a header, 1 for the server's no,
// 4 for an answer that is not a listing.
TEST_F(CtlTest, LocksAndWhyAskTheInspector) {
  const std::string three =
      R"({"namespace":"n s+","live":3,"more":false,"locks":[)"
      R"({"id":"1","state":"acquired","resources":[{"type":"write","path":["a","b"]}],"client_name":"job-1","connection":17,"peer":"127.0.0.1:1","since_ms":12400},)"
      R"({"id":"2","state":"enqueued","resources":[{"type":"read","path":["a"]}],"client_name":"job-2","since_ms":9000,"waits_for":["1"]},)"
      R"({"id":"3","state":"enqueued","resources":[{"type":"write","path":["a","b","c"]}],"client_name":"job-3","since_ms":4100,"waits_for":["1","2"]}]})";
  CannedHttpServer server(
      [&](const std::string& target) -> CannedHttpServer::Reply {
        if (target.find("namespace=gone") != std::string::npos) {
          return {404, "Namespace not found"};
        }
        if (target.find("namespace=old") != std::string::npos) {
          return {404, "Not found"};  // a server without the inspector
        }
        if (target.find("namespace=garbled") != std::string::npos) {
          return {200, "{\"locks\":[{\"id\":\"1\"}]}"};
        }
        if (target.find("namespace=locked") != std::string::npos) {
          return {401, "Unauthorized"};
        }
        return {200, three};
      });
  const std::vector<std::string> at = {"--port", std::to_string(server.port()),
                                       "--namespace", "n s+"};
  EXPECT_EQ(
      Run(Join(at, {"--token", "tok", "locks", "a%2Fb/c d", "--limit", "5"})),
      0)
      << Err(0);
  EXPECT_NE(Out(0).find("3   enqueued  write a/b/c  job-3   waiting 4s  1 2"),
            std::string::npos)
      << Out(0);
  EXPECT_EQ(Run(Join(at, {"why", "3"})), 0) << Err(1);
  EXPECT_NE(Out(1).find("Root: lock 1, held 12s by job-1"), std::string::npos)
      << Out(1);
  EXPECT_EQ(Run(Join(at, {"why", "2", "a"})), 0) << Err(2);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].first,
            "/locks_v1?namespace=n%20s%2B&path=a%252Fb%2Fc%20d&limit=5");
  EXPECT_EQ(requests[0].second, "Bearer tok");
  EXPECT_EQ(requests[1].first, "/locks_v1?namespace=n%20s%2B&limit=1000");
  EXPECT_EQ(requests[1].second, "");
  EXPECT_EQ(requests[2].first,
            "/locks_v1?namespace=n%20s%2B&path=a&limit=1000");

  const std::string port = std::to_string(server.port());
  EXPECT_EQ(Run({"--port", port, "--namespace", "gone", "locks"}), 0);
  EXPECT_EQ(Out(3), "");
  EXPECT_EQ(Err(3), "No live locks in namespace \"gone\" (0 live in all).\n");
  EXPECT_EQ(Run({"--port", port, "--namespace", "locked", "why", "1"}), 1);
  EXPECT_NE(Err(4).find("HTTP 401"), std::string::npos) << Err(4);
  EXPECT_EQ(Run({"--port", port, "--namespace", "garbled", "locks"}), 4);
  EXPECT_NE(Err(5).find("cannot read the answer of /locks_v1: lock 1 has no "
                        "\"state\""),
            std::string::npos)
      << Err(5);
  EXPECT_EQ(Run({"--port", port, "--namespace", "old", "locks"}), 1);
  EXPECT_NE(Err(6).find("HTTP 404: Not found"), std::string::npos) << Err(6);
}

}  // namespace
}  // namespace locktopus
