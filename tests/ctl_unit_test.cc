// locktopusctl's parts without I/O: the client names `lock` sends, its
// duration flags and how it keeps the token from CLI11, the lock inspector
// on canned /locks_v1 answers (read by wire/pages.h, whose own tests are
// pages_test.cc): the `locks` table and the `why` graph (odd names, long
// tables, cuts, cycles and repeats in waits_for), the `namespaces` table,
// and `status` from canned /metrics.

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "client/ctl/client_name.h"
#include "client/ctl/command_line.h"
#include "client/ctl/inspect.h"
#include "client/ctl/status.h"
#include "tests/test_support.h"
#include "wire/pages.h"

namespace locktopus::ctl {
namespace {

using locktopus::testing::R;
using locktopus::testing::W;

// The issue's example: a holder of write a/b (job-1), a waiter read a
// (job-2) and a waiter write a/b/c (job-3), which waits for both.
constexpr const char* kThree = R"({
  "namespace": "ns", "live": 3, "more": false,
  "locks": [
    {"id": "1", "state": "acquired",
     "resources": [{"type": "write", "path": ["a", "b"]}],
     "client_name": "job-1", "connection": 17, "peer": "127.0.0.1:51234",
     "since_ms": 12400},
    {"id": "2", "state": "enqueued",
     "resources": [{"type": "read", "path": ["a"]}],
     "client_name": "job-2", "connection": 18, "peer": "127.0.0.1:51236",
     "since_ms": 9000, "waits_for": ["1"], "waits_for_more": false},
    {"id": "3", "state": "enqueued",
     "resources": [{"type": "write", "path": ["a", "b", "c"]}],
     "client_name": "job-3", "connection": 19, "peer": "127.0.0.1:51238",
     "since_ms": 4100, "waits_for": ["1", "2"], "waits_for_more": false}
  ]})";

wire::LocksPage Parse(std::string_view json) {
  auto parsed = wire::ParseLocksPage(json);
  if (!parsed.ok()) {
    ADD_FAILURE() << parsed.error().message;
    return {};
  }
  return std::move(parsed).value();
}

wire::ListedLock Holder(std::uint64_t id, std::vector<std::string> path) {
  wire::ListedLock lock;
  lock.id = id;
  lock.state = LockState::kAcquired;
  lock.resources = {W(std::move(path))};
  lock.client_name = "job-" + std::to_string(id);
  lock.since_ms = 1000 * id;
  return lock;
}

wire::ListedLock Waiter(std::uint64_t id, std::vector<std::string> path,
                        std::vector<std::uint64_t> waits_for) {
  wire::ListedLock lock = Holder(id, std::move(path));
  lock.state = LockState::kEnqueued;
  lock.waits_for = std::move(waits_for);
  return lock;
}

// A graph of `locks`, all listed, asked about `id`.
WhyGraph Graph(std::uint64_t id, const std::vector<wire::ListedLock>& locks) {
  WhyGraph graph;
  graph.id = id;
  graph.ns = "ns";
  graph.live = locks.size();
  graph.complete_up_to_id = true;
  for (const wire::ListedLock& lock : locks) graph.locks[lock.id] = lock;
  return graph;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// ---- Text ---------------------------------------------------------------

TEST(PrintableTest, EscapesWhatCouldForgeOrHideOutput) {
  EXPECT_EQ(Printable("job-1"), "job-1");
  EXPECT_EQ(Printable("ü 日本 🐙"), "ü 日本 🐙");
  EXPECT_EQ(Printable("a\nb\r\tc"), "a\\nb\\r\\tc");
  EXPECT_EQ(Printable(std::string("\x01\x1b[31m\x7f", 7)),
            "\\x01\\x1b[31m\\x7f");
  EXPECT_EQ(Printable(std::string("nul\0!", 5)), "nul\\x00!");
  EXPECT_EQ(Printable("back\\slash"), "back\\\\slash");
  EXPECT_EQ(Printable("\xff\xc3("), "\\xff\\xc3(");         // not UTF-8
  EXPECT_EQ(Printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(Printable("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(Printable("\u202eevil"), "\\u202eevil");        // bidi override
  EXPECT_EQ(Printable("c1\u0085"), "c1\\u0085");
  EXPECT_EQ(Printable("ls\u2028x"), "ls\\u2028x");
}

TEST(DisplayWidthTest, CountsTerminalColumns) {
  EXPECT_EQ(DisplayWidth("abc"), 3u);
  EXPECT_EQ(DisplayWidth("日本"), 4u);
  EXPECT_EQ(DisplayWidth("🐙"), 2u);
  EXPECT_EQ(DisplayWidth("e\u0301"), 1u);  // combining acute
  EXPECT_EQ(DisplayWidth("…"), 1u);
}

TEST(HumanDurationTest, TheUnitThatMattersAndTheNext) {
  EXPECT_EQ(HumanDuration(0), "0ms");
  EXPECT_EQ(HumanDuration(999), "999ms");
  EXPECT_EQ(HumanDuration(1000), "1s");
  EXPECT_EQ(HumanDuration(59999), "59s");
  EXPECT_EQ(HumanDuration(60000), "1m00s");
  EXPECT_EQ(HumanDuration(125000), "2m05s");
  EXPECT_EQ(HumanDuration(3600000), "1h00m");
  EXPECT_EQ(HumanDuration(11220000), "3h07m");
  EXPECT_EQ(HumanDuration(2 * 86400000ULL + 4 * 3600000ULL), "2d04h");
}

TEST(DescribeResourceTest, WritesPathsAsTheCommandLineDoes) {
  EXPECT_EQ(DescribeResource(W({"a", "b"})), "write a/b");
  EXPECT_EQ(DescribeResource(R({})), "read /");
  EXPECT_EQ(DescribeResource(W({"a/b", "50%", "x\ny"})),
            "write a%2Fb/50%25/x\\ny");
}

// ---- locks --------------------------------------------------------------

TEST(RenderLockTableTest, TheThreeLocksOfTheExample) {
  EXPECT_EQ(RenderLockTable(Parse(kThree), std::nullopt),
            "ID  STATE     RESOURCES    CLIENT  FOR         WAITS FOR\n"
            "1   acquired  write a/b    job-1   held 12s\n"
            "2   enqueued  read a       job-2   waiting 9s  1\n"
            "3   enqueued  write a/b/c  job-3   waiting 4s  1 2\n"
            "\n"
            "3 listed, 3 live in namespace \"ns\".\n");
}

TEST(RenderLockTableTest, EmptyAndNarrowed) {
  wire::LocksPage listing;
  listing.ns = "ns";
  listing.live = 4;
  EXPECT_EQ(RenderLockTable(listing, "a/b"),
            "No live locks overlapping a/b in namespace \"ns\" (4 live in "
            "all).\n");
  listing.locks = {Holder(2, {"a", "b"})};
  listing.more = true;
  const std::string table = RenderLockTable(listing, "a/b");
  EXPECT_NE(table.find("1 listed overlapping a/b, 4 live in namespace \"ns\". "
                       "More match: raise --limit (up to 1000).\n"),
            std::string::npos)
      << table;
}

// ---- namespaces ---------------------------------------------------------

TEST(RenderNamespaceTableTest, BusiestFirstNamesLast) {
  wire::NamespacesPage page{
      .open = 3,
      .opened = 7,
      .namespaces = {{.name = "billing",
                      .locks_acquired = 12,
                      .locks_pending = 3},
                     {.name = "a\nb", .locks_acquired = 1},
                     {.name = "日本"}},
  };
  EXPECT_EQ(RenderNamespaceTable(page, ""),
            "ACQUIRED  ENQUEUED  NAMESPACE\n"
            "12        3         billing\n"
            "1         0         a\\nb\n"
            "0         0         日本\n"
            "\n"
            "3 listed, 3 open now, 7 opened since the start.\n");
  page.namespaces.resize(1);
  page.more = true;
  EXPECT_EQ(Lines(RenderNamespaceTable(page, "bill")).back(),
            "1 listed containing \"bill\", 3 open now, 7 opened since the "
            "start. More match: raise --limit (up to 1000).");
  page.namespaces.clear();
  page.more = false;
  EXPECT_EQ(RenderNamespaceTable(page, "x"),
            "No open namespace containing \"x\" (3 open now, 7 opened since "
            "the start).\n");
  EXPECT_EQ(RenderNamespaceTable({}, ""),
            "No open namespace (0 open now, 0 opened since the start).\n");
}

// A detached session's locks say so, held or waiting, and when they end.
TEST(RenderLockTableTest, ADetachedSessionsLocksSaySo) {
  wire::LocksPage listing;
  listing.ns = "n";
  listing.live = 2;
  wire::ListedLock held = Holder(1, {"a"});
  held.release_in_ms = 4000;
  held.detached = true;
  wire::ListedLock waiting = Waiter(2, {"a"}, {1});
  waiting.release_in_ms = 9000;
  waiting.detached = true;
  listing.locks = {held, waiting};
  const std::string table = RenderLockTable(listing, std::nullopt);
  EXPECT_NE(table.find("held 1s; session detached, ends in 4s unless resumed"),
            std::string::npos)
      << table;
  EXPECT_NE(
      table.find("waiting 2s; session detached, ends in 9s unless resumed"),
      std::string::npos)
      << table;
  EXPECT_EQ(table.find("abandoned"), std::string::npos) << table;
}

// Names with controls, Unicode of both widths, a lock of many resources,
// an abandoned one and one without a name: every column starts at the same
// terminal column on every line, and nothing raw gets through.
TEST(RenderLockTableTest, OddNamesStayInTheirColumns) {
  wire::LocksPage listing;
  listing.ns = "n\ns";
  listing.live = 4;
  wire::ListedLock unicode = Holder(1, {"日本", "ü"});
  unicode.client_name = "作业 🐙";
  wire::ListedLock control = Waiter(2, {"x\ty"}, {1});
  control.client_name = "evil\n3   acquired  forged";
  wire::ListedLock anonymous = Holder(3, {"z"});
  anonymous.client_name.reset();
  anonymous.peer = "127.0.0.1:5";
  anonymous.release_in_ms = 59000;
  wire::ListedLock wide = Waiter(4, {"m"}, {1, 1, 3, 2});
  wide.resources.clear();
  for (int i = 0; i < 8; ++i) {
    wide.resources.push_back(i % 2 == 0 ? W({"r" + std::to_string(i)})
                                        : R({"r" + std::to_string(i)}));
  }
  listing.locks = {unicode, control, anonymous, wide};
  const std::string table = RenderLockTable(listing, std::nullopt);
  const std::vector<std::string> lines = Lines(table);
  EXPECT_EQ(lines.size(), 1u + 4 + 4 + 1 + 2) << table;  // + 4 resources, +N
  EXPECT_EQ(table.find("evil\n"), std::string::npos) << table;
  EXPECT_NE(table.find("evil\\n3   acquired  forged"), std::string::npos);
  EXPECT_NE(table.find("write x\\ty"), std::string::npos);
  EXPECT_NE(table.find("(127.0.0.1:5)"), std::string::npos);
  EXPECT_NE(table.find("held 3s; abandoned, released in 59s"),
            std::string::npos);
  EXPECT_NE(table.find("+3 more"), std::string::npos);
  EXPECT_NE(table.find("namespace \"n\\ns\""), std::string::npos);
  // Lock 4 waits for 1 (twice listed), 2 and 3: once each, in order.
  EXPECT_NE(lines[4].find("  1 2 3"), std::string::npos) << table;
  const std::size_t for_column =
      DisplayWidth(lines[0].substr(0, lines[0].find("FOR ")));
  for (std::size_t i = 0; i < 5; ++i) {
    if (i == 0 || lines[i].find("held") != std::string::npos ||
        lines[i].find("waiting") != std::string::npos) {
      const std::size_t at =
          std::min(lines[i].find("held"), lines[i].find("waiting"));
      const std::size_t column =
          DisplayWidth(lines[i].substr(0, i == 0 ? lines[0].find("FOR ") : at));
      EXPECT_EQ(column, for_column) << "line " << i << ":\n" << table;
    }
  }
}

TEST(RenderLockTableTest, LongTablesAndLongCells) {
  wire::LocksPage listing;
  listing.ns = "ns";
  listing.live = 5000;
  listing.more = true;
  for (std::uint64_t id = 1; id <= 1000; ++id) {
    listing.locks.push_back(id == 1 ? Holder(id, {"a"})
                                    : Waiter(id, {"a"}, {id - 1}));
  }
  listing.locks[999].client_name = std::string(300, 'n');
  listing.locks[998].resources[0].path = {std::string(500, 'p')};
  // The server's blockers may be more than shown.
  for (std::uint64_t b = 1; b <= 40; ++b) {
    listing.locks[997].waits_for.push_back(b);
  }
  listing.locks[996].waits_for_more = true;
  const std::string table = RenderLockTable(listing, std::nullopt);
  const std::vector<std::string> lines = Lines(table);
  ASSERT_EQ(lines.size(), 1u + 1000 + 2);
  EXPECT_EQ(lines.back(),
            "1000 listed, 5000 live in namespace \"ns\". More match: raise "
            "--limit (up to 1000) or name a PATH.");
  for (std::size_t i = 0; i < 1001; ++i) {
    EXPECT_LE(DisplayWidth(lines[i]), 200u) << lines[i];
  }
  EXPECT_NE(lines[1000].find(std::string(39, 'n') + "…"), std::string::npos);
  EXPECT_NE(lines[999].find("write " + std::string(53, 'p') + "…"),
            std::string::npos)
      << lines[999];
  EXPECT_NE(lines[998].find("1 2 3 4 5 6 7 8 9 10 ..."), std::string::npos)
      << lines[998];
  EXPECT_NE(lines[997].find("  996 ..."), std::string::npos) << lines[997];
}

// ---- why ----------------------------------------------------------------

TEST(RenderWhyTest, TheExampleNamesLockOneAndJobOneAsTheRoot) {
  const wire::LocksPage listing = Parse(kThree);
  const WhyGraph graph =
      CollectWhy(3, std::nullopt, std::nullopt,
                 [&](const std::optional<std::vector<std::string>>& path) {
                   EXPECT_FALSE(path);
                   return listing;
                 });
  EXPECT_EQ(RenderWhy(graph),
            "lock 3  enqueued  write a/b/c  (job-3, waiting 4s)\n"
            "├─ waits for lock 1  acquired  write a/b  (job-1, held 12s)  "
            "<- root\n"
            "└─ waits for lock 2  enqueued  read a  (job-2, waiting 9s)\n"
            "   └─ waits for lock 1  (above)\n"
            "\n"
            "Root: lock 1, held 12s by job-1 (peer 127.0.0.1:51234, "
            "connection 17)\n");
}

TEST(RenderWhyTest, AChainGoesDownAsGitLogGraphDoes) {
  const WhyGraph graph =
      Graph(3, {Holder(1, {"a", "b"}), Waiter(2, {"a", "b", "c"}, {1}),
                Waiter(3, {"a"}, {2})});
  EXPECT_EQ(RenderWhy(graph),
            "lock 3  enqueued  write a  (job-3, waiting 3s)\n"
            "└─ waits for lock 2  enqueued  write a/b/c  (job-2, waiting 2s)\n"
            "   └─ waits for lock 1  acquired  write a/b  (job-1, held 1s)  "
            "<- root\n"
            "\n"
            "Root: lock 1, held 1s by job-1\n");
}

TEST(RenderWhyTest, AHolderWaitsForNothingAndAnUnknownLockIsNotLive) {
  const WhyGraph graph = Graph(1, {Holder(1, {"a"})});
  EXPECT_EQ(RenderWhy(graph),
            "lock 1  acquired  write a  (job-1, held 1s)  <- root\n"
            "It holds its lock: it waits for nothing.\n");
  EXPECT_EQ(RenderWhy(Graph(9, {Holder(1, {"a"})})),
            "lock 9 is not live in namespace \"ns\" (released, cancelled, or "
            "never taken).\n");
  // A listing cut before ID 9 proves nothing.
  WhyGraph cut = Graph(9, {Holder(1, {"a"})});
  cut.complete_up_to_id = false;
  cut.listing_cut = true;
  cut.live = 5000;
  EXPECT_EQ(RenderWhy(cut),
            "lock 9 is not among the first locks listed (5000 live in "
            "namespace \"ns\"); name a PATH it locks: locktopusctl why 9 "
            "PATH\n");
  cut.path_text = "a";
  EXPECT_EQ(RenderWhy(cut),
            "lock 9 is not among the first locks listed overlapping a (5000 "
            "live in namespace \"ns\"); name a narrower PATH it locks: "
            "locktopusctl why 9 PATH\n");
  WhyGraph narrowed = Graph(9, {Holder(1, {"a"})});
  narrowed.path_text = "b\n";
  EXPECT_EQ(RenderWhy(narrowed),
            "lock 9 is not live in namespace \"ns\" (released, cancelled, or "
            "never taken), or has no resource overlapping b\\n.\n");
}

// A client that sent no name is known by its address.
TEST(RenderWhyTest, AnAnonymousHolderByItsAddress) {
  wire::ListedLock anonymous = Holder(1, {"a"});
  anonymous.client_name.reset();
  anonymous.peer = "[::1]:4000";
  anonymous.connection = 9;
  EXPECT_EQ(RenderWhy(Graph(2, {anonymous, Waiter(2, {"a"}, {1})})),
            "lock 2  enqueued  write a  (job-2, waiting 2s)\n"
            "└─ waits for lock 1  acquired  write a  ([::1]:4000, held 1s)  "
            "<- root\n"
            "\n"
            "Root: lock 1, held 1s by a client without a name (peer "
            "[::1]:4000, connection 9)\n");
}

// Two paths to the same holder: expanded once, then "(above)"; several
// holders at the root, listed in order.
TEST(RenderWhyTest, ADiamondAndSeveralRoots) {
  wire::ListedLock abandoned = Holder(5, {"b"});
  abandoned.release_in_ms = 30000;
  abandoned.peer = "10.0.0.5:7";
  const WhyGraph graph = Graph(
      4, {Holder(1, {"a"}), Waiter(2, {"a", "x"}, {1}),
          Waiter(3, {"a", "y"}, {1}), abandoned, Waiter(6, {"a"}, {2, 3, 5})});
  WhyGraph asked = graph;
  asked.id = 6;
  EXPECT_EQ(RenderWhy(asked),
            "lock 6  enqueued  write a  (job-6, waiting 6s)\n"
            "├─ waits for lock 2  enqueued  write a/x  (job-2, waiting 2s)\n"
            "│  └─ waits for lock 1  acquired  write a  (job-1, held 1s)  "
            "<- root\n"
            "├─ waits for lock 3  enqueued  write a/y  (job-3, waiting 3s)\n"
            "│  └─ waits for lock 1  (above)\n"
            "└─ waits for lock 5  acquired  write b  (job-5, held 5s; "
            "abandoned, released in 30s)  <- root\n"
            "\n"
            "Root: lock 1, held 1s by job-1\n"
            "Root: lock 5, held 5s by job-5 (peer 10.0.0.5:7, abandoned, "
            "released in 30s)\n");
}

// waits_for should only name earlier locks, so a cycle is the server's
// bug; it is named, and ends the walk. Repeats are shown once.
TEST(RenderWhyTest, CyclesAndRepeatsEnd) {
  const WhyGraph graph =
      Graph(3, {Waiter(2, {"a"}, {3, 3}), Waiter(3, {"a"}, {2, 2, 3})});
  const std::string text = RenderWhy(graph);
  EXPECT_EQ(text,
            "lock 3  enqueued  write a  (job-3, waiting 3s)\n"
            "├─ waits for lock 2  enqueued  write a  (job-2, waiting 2s)\n"
            "│  └─ waits for lock 3  (a cycle, which the server should never "
            "list)\n"
            "└─ waits for lock 3  (a cycle, which the server should never "
            "list)\n");
}

TEST(RenderWhyTest, MissingBlockersMoreAndNothing) {
  wire::ListedLock more = Waiter(3, {"a"}, {1, 7});
  more.waits_for_more = true;
  WhyGraph graph = Graph(3, {Holder(1, {"a"}), more, Waiter(4, {"b"}, {})});
  graph.listing_cut = true;
  EXPECT_EQ(RenderWhy(graph),
            "lock 3  enqueued  write a  (job-3, waiting 3s)\n"
            "├─ waits for lock 1  acquired  write a  (job-1, held 1s)  "
            "<- root\n"
            "├─ waits for lock 7  (not listed: released since, or beyond the "
            "listing)\n"
            "└─ waits for more locks than the server lists per lock\n"
            "\n"
            "Root: lock 1, held 1s by job-1\n"
            "Some listings were cut at their limit: a lock not listed may "
            "still be live.\n");
  graph.id = 4;
  EXPECT_EQ(RenderWhy(graph),
            "lock 4  enqueued  write b  (job-4, waiting 4s)\n"
            "└─ waits for no lock that is still live: it is about to be "
            "granted\n");
}

TEST(RenderWhyTest, DepthAndSizeAreBounded) {
  std::vector<wire::ListedLock> chain = {Holder(1, {"a"})};
  for (std::uint64_t id = 2; id <= 100; ++id) {
    chain.push_back(Waiter(id, {"a"}, {id - 1}));
  }
  const std::string deep = RenderWhy(Graph(100, chain), {.max_depth = 5});
  const std::vector<std::string> lines = Lines(deep);
  ASSERT_EQ(lines.size(), 1u + 5 + 1 + 1) << deep;
  EXPECT_EQ(lines[6], std::string(15, ' ') + "└─ ... (cut: deeper than 5)");
  EXPECT_EQ(lines[7],
            "The graph was cut; ask about a lock further down with "
            "locktopusctl why ID.");

  std::vector<wire::ListedLock> wide;
  std::vector<std::uint64_t> all;
  for (std::uint64_t id = 1; id <= 300; ++id) {
    wide.push_back(Holder(id, {"a", std::to_string(id)}));
    all.push_back(id);
  }
  wide.push_back(Waiter(301, {"a"}, all));
  const std::string broad = RenderWhy(Graph(301, wide), {.max_locks = 200});
  EXPECT_NE(broad.find("└─ ... (cut: more than 200 locks shown)\n"),
            std::string::npos)
      << broad.substr(broad.size() - 600);
  EXPECT_EQ(broad.find("lock 201 "), std::string::npos);
  EXPECT_NE(broad.find("Root: lock 10,"), std::string::npos);
  EXPECT_EQ(broad.find("Root: lock 11,"), std::string::npos);
  EXPECT_NE(broad.find("... and 190 more roots, above\n"), std::string::npos);
}

// With a PATH, the first listing may lack a blocker: it is looked for on
// the paths of the waiting lock's resources, each asked once, and the
// number of requests is bounded.
TEST(CollectWhyTest, FollowsBlockersThroughTheirPaths) {
  using Path = std::optional<std::vector<std::string>>;
  std::vector<Path> asked;
  const auto listing = [](std::vector<wire::ListedLock> locks, bool more) {
    wire::LocksPage l;
    l.ns = "ns";
    l.live = 2000;
    l.more = more;
    l.locks = std::move(locks);
    return l;
  };
  wire::ListedLock waiter = Waiter(1500, {"q"}, {900});
  waiter.resources.push_back(R({"r", "s"}));
  const auto fetch = [&](const Path& path) {
    asked.push_back(path);
    if (path == Path(std::vector<std::string>{"r", "s"})) {
      return listing({Waiter(900, {"r"}, {5}), waiter}, false);
    }
    if (path == Path(std::vector<std::string>{"r"})) {
      return listing({Holder(5, {"r"})}, false);
    }
    return listing({waiter}, true);  // "q", and the start
  };
  const WhyGraph graph =
      CollectWhy(1500, std::vector<std::string>{"q"}, "q", fetch);
  EXPECT_EQ(asked, (std::vector<Path>{std::vector<std::string>{"q"},
                                      std::vector<std::string>{"r", "s"},
                                      std::vector<std::string>{"r"}}));
  EXPECT_EQ(graph.locks.count(5), 1u);
  EXPECT_TRUE(graph.complete_up_to_id);
  EXPECT_FALSE(graph.requests_cut);
  const std::string text = RenderWhy(graph);
  EXPECT_NE(text.find("Root: lock 5, held 5s by job-5"), std::string::npos)
      << text;

  // A blocker never found: each path is asked once, and no more than the
  // bound allows.
  asked.clear();
  std::vector<wire::ListedLock> many;
  wire::ListedLock spread = Waiter(50, {"p0"}, {1});
  for (int i = 1; i < 40; ++i) {
    spread.resources.push_back(W({"p" + std::to_string(i)}));
  }
  const WhyGraph cut = CollectWhy(50, std::nullopt, std::nullopt,
                                  [&](const Path& path) {
                                    asked.push_back(path);
                                    return listing({spread}, false);
                                  },
                                  {.max_requests = 8});
  EXPECT_EQ(asked.size(), 8u);
  EXPECT_TRUE(cut.requests_cut);
  EXPECT_NE(RenderWhy(cut, {.max_requests = 8})
                .find("Stopped after 8 requests to the server"),
            std::string::npos);
}

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

TEST(ClientNameTest, NeverHoldsTheToken) {
  EXPECT_EQ(
      DefaultClientName("h", 1, {"curl", "-H", "Bearer s3cret", "u"}, "s3cret"),
      "h:1 curl -H <token> u");
  // A command that is itself a locktopusctl, with a token of its own.
  EXPECT_EQ(DefaultClientName("h", 1,
                              {"locktopusctl", "--token", "other", "stats",
                               "--token=more", "x"}),
            "h:1 locktopusctl --token <token> stats --token=<token> x");
  EXPECT_EQ(DefaultClientName("h", 1, {"echo", "x"}, ""), "h:1 echo x");
}

// ---- The command line ---------------------------------------------------

// `args` (after the program's name) parsed by an app with --timeout and
// --grace; CLI11's message if it refuses them.
struct Durations {
  std::optional<double> timeout;
  double grace = 5;
  std::string error;
};
Durations ParseDurations(std::vector<std::string> args) {
  Durations d;
  CLI::App app;
  AddDurationOption(app, "--timeout", d.timeout, "");
  AddDurationOption(app, "--grace", d.grace, "");
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    d.error = e.what();
  }
  return d;
}

TEST(DurationOptionTest, MillisecondsSecondsMinutesAndHours) {
  const std::vector<std::pair<std::string, double>> good = {
      {"500ms", 0.5},
      {"10s", 10},
      {"2m", 120},
      {"5h", 18000},
      {"1.5h", 5400},
      {"7", 7},
      {"0", 0},
      {"2H", 7200},
      {"3 m", 180},
      {"0.25s", 0.25},
      {"277777h", 277777.0 * 3600}};
  for (const auto& [text, seconds] : good) {
    const Durations d = ParseDurations({"--timeout", text, "--grace", text});
    EXPECT_EQ(d.error, "") << text;
    EXPECT_DOUBLE_EQ(d.timeout.value_or(-1), seconds) << text;
    EXPECT_DOUBLE_EQ(d.grace, seconds) << text;
  }
  EXPECT_FALSE(ParseDurations({}).timeout.has_value());
  EXPECT_EQ(ParseDurations({}).grace, 5);
}

TEST(DurationOptionTest, RefusedNamingTheFlag) {
  for (const std::string text :
       {"5x", "-1s", "nan", "inf", "1e10", "277778h", "h", ""}) {
    const Durations d = ParseDurations({"--timeout", text});
    EXPECT_TRUE(d.error.starts_with("--timeout: ")) << text << ": " << d.error;
    EXPECT_LT(d.error.size(), 120u) << d.error;
  }
}

TEST(HideTokensTest, CliElevenNeverSeesTheToken) {
  const char* argv[] = {"locktopusctl", "--token", "x",  "--port",  "1",
                        "--token=-y",   "status",  "--", "--token", "z"};
  const HiddenTokens hidden = HideTokens(10, argv);
  EXPECT_EQ(hidden.args,
            (std::vector<std::string>{"locktopusctl", "--token", "<token>",
                                      "--port", "1", "--token=<token>",
                                      "status", "--", "--token", "z"}));
  EXPECT_EQ(hidden.tokens, (std::vector<std::string>{"x", "-y"}));
  // A token that looks like a flag is still the token.
  const char* dashed[] = {"locktopusctl", "--token", "--port", "status"};
  EXPECT_EQ(HideTokens(4, dashed).tokens, std::vector<std::string>{"--port"});
  // --token last has no value: CLI11 says so.
  const char* last[] = {"locktopusctl", "status", "--token"};
  EXPECT_EQ(HideTokens(3, last).args,
            (std::vector<std::string>{"locktopusctl", "status", "--token"}));
  EXPECT_TRUE(HideTokens(3, last).tokens.empty());
}

// The message of parsing `args` with an app of --token, --token-file
// (excluding it) and `status`, the token hidden first.
std::string UsageOf(std::vector<const char*> args,
                    const std::vector<std::string>& extra_secrets = {}) {
  args.insert(args.begin(), "locktopusctl");
  const HiddenTokens hidden =
      HideTokens(static_cast<int>(args.size()), args.data());
  std::vector<const char*> parsed;
  for (const std::string& arg : hidden.args) parsed.push_back(arg.c_str());
  CLI::App app;
  app.fallthrough();
  std::optional<std::string> token;
  std::string file;
  CLI::Option* token_flag = app.add_option("--token", token);
  app.add_option("--token-file", file)->excludes(token_flag);
  app.add_subcommand("status");
  std::vector<std::string> secrets = hidden.tokens;
  secrets.insert(secrets.end(), extra_secrets.begin(), extra_secrets.end());
  try {
    app.parse(static_cast<int>(parsed.size()), parsed.data());
  } catch (const CLI::ParseError& e) {
    return UsageMessage(e, app, secrets);
  }
  return "";
}

TEST(UsageMessageTest, QuotesTheOffendingArgumentsButNeverTheToken) {
  EXPECT_EQ(UsageOf({"--token", "x", "--token-file", "f", "status"}),
            "--token excludes --token-file");
  EXPECT_EQ(UsageOf({"--token", "t0ken", "status", "t0ken", "extra"}),
            "The following arguments were not expected: <token> extra");
  EXPECT_EQ(UsageOf({"status", "s3cret"}, {"s3cret"}),
            "The following argument was not expected: <token>");
  EXPECT_EQ(UsageOf({"status", "other"}, {"s3cret"}),
            "The following argument was not expected: other");
  const std::string twice =
      UsageOf({"--token", "a1", "--token", "b2", "status"});
  EXPECT_NE(twice, "");
  EXPECT_EQ(twice.find("a1"), std::string::npos) << twice;
  EXPECT_EQ(twice.find("b2"), std::string::npos) << twice;
}

// ---- status -------------------------------------------------------------

constexpr const char* kMetrics =
    R"(# HELP locktopus_connections_open Open WebSocket connections.
# TYPE locktopus_connections_open gauge
locktopus_connections_open 3
locktopus_namespaces 2
locktopus_namespaces_opened_total 5
locktopus_pending_locks 1
locktopus_acquired_locks 4
locktopus_lock_memory_bytes 12345
locktopus_lock_memory_limit_bytes 1073741824
locktopus_protocol_errors_total{reason="bad_json"} 9
locktopus_oldest_enqueued_lock_seconds 4.25
locktopus_oldest_acquired_lock_seconds 125
)";

TEST(StatusTest, ReadFromMetrics) {
  ServerStatus status;
  ASSERT_TRUE(ReadMetrics(kMetrics, &status).ok());
  EXPECT_EQ(status, (ServerStatus{.connections_open = 3,
                                  .namespaces_open = 2,
                                  .namespaces_opened = 5,
                                  .locks_acquired = 4,
                                  .locks_pending = 1,
                                  .oldest_enqueued_ms = 4250,
                                  .oldest_acquired_ms = 125000,
                                  .lock_memory_bytes = 12345,
                                  .lock_memory_limit_bytes = 1073741824}));
  const std::string text = kMetrics;
  const auto without = [&](const std::string& line) {
    std::string cut = text;
    cut.erase(cut.find(line), line.size());
    return cut;
  };
  for (const std::string line :
       {"locktopus_namespaces 2\n", "locktopus_pending_locks 1\n",
        "locktopus_oldest_acquired_lock_seconds 125\n"}) {
    const Status read = ReadMetrics(without(line), &status);
    ASSERT_FALSE(read.ok()) << line;
    EXPECT_EQ(read.error().message,
              "no readable " + line.substr(0, line.find(' ')));
  }
  std::string garbled = text;
  garbled.replace(garbled.find(" 12345"), 6, " 12x45");
  EXPECT_FALSE(ReadMetrics(garbled, &status).ok());
  EXPECT_FALSE(ReadMetrics("<html>", &status).ok());
}

TEST(StatusTest, TextAndJson) {
  ServerStatus status{
      .server = "127.0.0.1:9009", .ready = true, .state = "serving"};
  ASSERT_TRUE(ReadMetrics(kMetrics, &status).ok());
  EXPECT_EQ(RenderStatus(status),
            "Server:       127.0.0.1:9009\n"
            "State:        serving (takes clients)\n"
            "Connections:  3 open\n"
            "Namespaces:   2 open, 5 opened since the start\n"
            "Locks:        4 acquired (held longest 2m05s), 1 enqueued "
            "(waiting longest 4s)\n"
            "Lock memory:  12345 of 1073741824 bytes (--max-lock-memory)\n");
  EXPECT_EQ(
      StatusJson(status),
      R"({"server":"127.0.0.1:9009","tls":false,"ready":true,)"
      R"("state":"serving","connections_open":3,"namespaces_open":2,)"
      R"("namespaces_opened":5,"locks_acquired":4,"locks_pending":1,)"
      R"("oldest_enqueued_lock_ms":4250,"oldest_acquired_lock_ms":125000,)"
      R"("lock_memory_bytes":12345,"lock_memory_limit_bytes":1073741824})"
      "\n");

  status.state = "grace: 12 s left";
  EXPECT_EQ(Lines(RenderStatus(status))[1],
            "State:        grace: 12 s left (takes clients)");

  ServerStatus idle{.server = "h:1", .tls = true, .state = "standby"};
  const std::vector<std::string> lines = Lines(RenderStatus(idle));
  EXPECT_EQ(lines[0], "Server:       h:1 (TLS)");
  EXPECT_EQ(lines[1],
            "State:        standby (not its HA group's active: refuses "
            "clients)");
  EXPECT_EQ(lines[4], "Locks:        0 acquired, 0 enqueued");
  idle.state = "draining\x1b[2J";
  EXPECT_EQ(Lines(RenderStatus(idle))[1],
            "State:        draining\\x1b[2J (not its HA group's active: "
            "refuses clients)");
  idle.state = "draining";
  EXPECT_EQ(Lines(RenderStatus(idle))[1],
            "State:        draining (shutting down: refuses new clients)");
}

}  // namespace
}  // namespace locktopus::ctl
