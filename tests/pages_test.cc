// The JSON pages' codec (wire/pages.h): each page written byte for byte as
// the server sends it, read back, and refused with a message that says
// what is wrong; and, for random values, Parse(Format(v)) == v
// (RapidCheck).

#include "wire/pages.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tests/test_support.h"

namespace locktopus::wire {

// For failure messages: a page as its text.
inline std::ostream& operator<<(std::ostream& os, const StatsPage& page) {
  return os << FormatStatsPage(page);
}
inline std::ostream& operator<<(std::ostream& os, const NamespacesPage& page) {
  return os << FormatNamespacesPage(page);
}
inline std::ostream& operator<<(std::ostream& os, const LocksPage& page) {
  return os << FormatLocksPage(page);
}

namespace {

using locktopus::testing::R;
using locktopus::testing::W;

// The page `parse` reads from `text`; a failure if it reads none.
template <class Page>
Page Read(Result<Page> parsed, std::string_view text) {
  if (!parsed.ok()) {
    ADD_FAILURE() << parsed.error().message << "\nin " << text;
    return {};
  }
  return std::move(parsed).value();
}

// What is wrong with `text`, as `parse` says; a failure if it reads a page.
template <class Page>
std::string ErrorOf(Result<Page> parsed, std::string_view text) {
  if (!parsed.ok()) return parsed.error().message;
  ADD_FAILURE() << "read: " << text;
  return "";
}

LocksPage ReadLocks(std::string_view text) {
  return Read(ParseLocksPage(text), text);
}
std::string LocksError(std::string_view text) {
  return ErrorOf(ParseLocksPage(text), text);
}
std::string StatsError(std::string_view text) {
  return ErrorOf(ParseStatsPage(text), text);
}
std::string NamespacesError(std::string_view text) {
  return ErrorOf(ParseNamespacesPage(text), text);
}

// A text that Parse refuses, and what it says.
struct Refusal {
  std::string_view text;
  std::string_view error;
};

// ---- /stats_v1 --------------------------------------------------------------

constexpr std::string_view kStats =
    R"({"LastGroupID":4,"GroupsPending":1,"GroupsAcquired":2,)"
    R"("LocksPending":3,"LocksAcquired":5,"PathCount":7,"MemoryBytes":1024})";

const StatsPage kStatsPage{.stats = {.last_id = 4,
                                     .locks_pending = 1,
                                     .locks_acquired = 2,
                                     .resources_pending = 3,
                                     .resources_acquired = 5,
                                     .path_count = 7},
                           .memory_bytes = 1024};

TEST(StatsPageTest, WritesThePascalCaseKeysInTheirOrder) {
  EXPECT_EQ(FormatStatsPage(kStatsPage), kStats);
  EXPECT_EQ(FormatStatsPage({}),
            R"({"LastGroupID":0,"GroupsPending":0,"GroupsAcquired":0,)"
            R"("LocksPending":0,"LocksAcquired":0,"PathCount":0,)"
            R"("MemoryBytes":0})");
}

TEST(StatsPageTest, ReadsItBackInAnyOrderIgnoringUnknownFields) {
  EXPECT_EQ(Read(ParseStatsPage(kStats), kStats), kStatsPage);
  const std::string shuffled =
      R"({"MemoryBytes":1024,"PathCount":7,"later":[1],"LocksAcquired":5,)"
      R"("LocksPending":3,"GroupsAcquired":2,"GroupsPending":1,)"
      R"("LastGroupID":4})";
  EXPECT_EQ(Read(ParseStatsPage(shuffled), shuffled), kStatsPage);
}

TEST(StatsPageTest, SaysWhatIsWrong) {
  EXPECT_EQ(StatsError("Namespace not found").rfind("not JSON: ", 0), 0u);
  EXPECT_EQ(StatsError("[1]"), "the answer is not an object");
  EXPECT_EQ(StatsError(R"({"LastGroupID":4})"),
            "the answer has no \"GroupsPending\"");
  std::string text(kStats);
  text.replace(text.find(",\"MemoryBytes\":1024"), 19, "");
  EXPECT_EQ(StatsError(text), "the answer has no \"MemoryBytes\"");
  text = kStats;
  text.replace(text.find("\"PathCount\":7"), 13, "\"PathCount\":-7");
  EXPECT_EQ(StatsError(text), "PathCount is not a number >= 0");
  text = kStats;
  text.replace(text.find("\"PathCount\":7"), 13, "\"PathCount\":\"7\"");
  EXPECT_EQ(StatsError(text), "PathCount is not a number >= 0");
  text = kStats;
  text.replace(text.find("\"PathCount\":7"), 13, "\"PathCount\":7.5");
  EXPECT_EQ(StatsError(text), "PathCount is not a number >= 0");
}

// ---- /namespaces_v1 ---------------------------------------------------------

TEST(NamespacesPageTest, WritesAndReadsTheListing) {
  const NamespacesPage page{
      .open = 4,
      .opened = 9,
      .namespaces = {{.name = "alphabet",
                      .locks_acquired = 1,
                      .locks_pending = 1},
                     {.name = "a \"b\"\n",
                      .locks_acquired = 0,
                      .locks_pending = 18446744073709551615u}},
      .more = true};
  const std::string text =
      R"({"open":4,"opened":9,"namespaces":[{"name":"alphabet",)"
      R"("locks_acquired":1,"locks_pending":1},{"name":"a \"b\"\n",)"
      R"("locks_acquired":0,"locks_pending":18446744073709551615}],)"
      R"("more":true})";
  EXPECT_EQ(FormatNamespacesPage(page), text);
  EXPECT_EQ(Read(ParseNamespacesPage(text), text), page);
  EXPECT_EQ(FormatNamespacesPage({}),
            R"({"open":0,"opened":0,"namespaces":[],"more":false})");
}

TEST(NamespacesPageTest, SaysWhatIsWrong) {
  EXPECT_EQ(NamespacesError("").rfind("not JSON: ", 0), 0u);
  for (const Refusal& c : std::initializer_list<Refusal>{
           {R"("open")", "the answer is not an object"},
           {R"({"open":1,"opened":1,"more":false})",
            "the answer has no \"namespaces\""},
           {R"({"open":1,"opened":1,"namespaces":{},"more":false})",
            "namespaces is not an array"},
           {R"({"open":1,"opened":1,"namespaces":[],"more":"no"})",
            "more is not a boolean"},
           {R"({"open":1,"opened":1,"more":false,"namespaces":[)"
            R"({"name":"a","locks_acquired":1,"locks_pending":0},)"
            R"({"name":7}]})",
            "namespace #2 name is not a string"},
           {R"({"open":1,"opened":1,"more":false,"namespaces":[)"
            R"({"name":"a","locks_acquired":1}]})",
            "namespace #1 has no \"locks_pending\""},
       }) {
    EXPECT_EQ(NamespacesError(c.text), c.error) << c.text;
  }
}

// ---- /locks_v1 --------------------------------------------------------------

// The three locks of the inspector's examples (docs/protocol.md,
// docs/clients.md), the first since abandoned by its connection and the
// third from a client that gave no name.
LocksPage ThreeLocks() {
  LocksPage page{.ns = "ns", .live = 3, .more = false};
  page.locks = {
      {.id = 1,
       .state = LockState::kAcquired,
       .resources = {W({"a", "b"})},
       .client_name = "job-1",
       .peer = "127.0.0.1:51234",
       .since_ms = 12034,
       .release_in_ms = 59000},
      {.id = 2,
       .state = LockState::kEnqueued,
       .resources = {R({"a"}), W({})},
       .client_name = "job-2",
       .connection = 18,
       .peer = "127.0.0.1:51240",
       .since_ms = 9001,
       .waits_for = {1}},
      {.id = 3,
       .state = LockState::kEnqueued,
       .resources = {W({"a", "b", "c"})},
       .connection = 19,
       .peer = "[::1]:9",
       .since_ms = 0,
       .waits_for = {1, 2},
       .waits_for_more = true},
  };
  return page;
}

constexpr std::string_view kThreeLocks =
    R"({"namespace":"ns","live":3,"more":false,"locks":[)"
    R"({"id":"1","state":"acquired","resources":[{"type":"write","path":["a","b"]}],)"
    R"("client_name":"job-1","peer":"127.0.0.1:51234","since_ms":12034,)"
    R"("abandoned":true,"release_in_ms":59000,"waits_for":[],"waits_for_more":false},)"
    R"({"id":"2","state":"enqueued","resources":[{"type":"read","path":["a"]},)"
    R"({"type":"write","path":[]}],"client_name":"job-2","connection":18,)"
    R"("peer":"127.0.0.1:51240","since_ms":9001,"waits_for":["1"],)"
    R"("waits_for_more":false},)"
    R"({"id":"3","state":"enqueued","resources":[{"type":"write","path":["a","b","c"]}],)"
    R"("connection":19,"peer":"[::1]:9","since_ms":0,"waits_for":["1","2"],)"
    R"("waits_for_more":true}]})";

TEST(LocksPageTest, WritesEachFieldOnlyWhereTheLockHasIt) {
  EXPECT_EQ(FormatLocksPage(ThreeLocks()), kThreeLocks);
  EXPECT_EQ(ReadLocks(kThreeLocks), ThreeLocks());
  // A lock without a record in the server: no holder, no times.
  LocksPage bare{.ns = "n", .live = 1};
  bare.locks.push_back({.id = 7, .resources = {R({"x"})}});
  EXPECT_EQ(FormatLocksPage(bare),
            R"({"namespace":"n","live":1,"more":false,"locks":[{"id":"7",)"
            R"("state":"acquired","resources":[{"type":"read","path":["x"]}],)"
            R"("since_ms":0,"waits_for":[],"waits_for_more":false}]})");
}

TEST(LocksPageTest, NamesAreBytesAsTheServerHasThem) {
  using namespace std::string_literals;
  // A namespace is named by URL-decoded bytes, not always UTF-8.
  LocksPage page{.ns = "\xff\x00\x01\"\\/\xc3\xa9"s};
  EXPECT_EQ(FormatLocksPage(page),
            "{\"namespace\":\"\xff\\u0000\\u0001\\\"\\\\/\xc3\xa9\","s
            R"("live":0,"more":false,"locks":[]})");
  EXPECT_EQ(ReadLocks(FormatLocksPage(page)), page);
  page.locks.push_back({.id = 18446744073709551615u,
                        .state = LockState::kEnqueued,
                        .resources = {W({"", "\x7f", "\xe2\x80\xae", "\xc0"})},
                        .client_name = "",
                        .peer = "\n"});
  EXPECT_EQ(ReadLocks(FormatLocksPage(page)), page);
}

TEST(LocksPageTest, ReadsWhatOtherServersMayWrite) {
  const LocksPage page = ReadLocks(R"({
    "namespace": "billing", "live": 7, "more": true, "future": [1, 2],
    "locks": [
      {"id": "41", "state": "acquired",
       "resources": [{"type": "write", "path": []},
                     {"type": "read", "path": ["x", "ü/%"]}],
       "peer": "[::1]:9", "since_ms": 5, "abandoned": true,
       "release_in_ms": 59000, "later": {"a": 1}},
      {"id": "42", "state": "enqueued", "resources": [],
       "client_name": "job", "connection": 3, "peer": "10.0.0.1:2",
       "since_ms": 0, "waits_for": ["41", "7"], "waits_for_more": true},
      {"id": 43, "state": "acquired", "resources": [], "abandoned": false}]})");
  LocksPage want{.ns = "billing", .live = 7, .more = true};
  want.locks = {{.id = 41,
                 .state = LockState::kAcquired,
                 .resources = {W({}), R({"x", "ü/%"})},
                 .peer = "[::1]:9",
                 .since_ms = 5,
                 .release_in_ms = 59000},
                {.id = 42,
                 .state = LockState::kEnqueued,
                 .client_name = "job",
                 .connection = 3,
                 .peer = "10.0.0.1:2",
                 .waits_for = {41, 7},
                 .waits_for_more = true},
                // A number for an ID is read too; absent fields default.
                {.id = 43, .state = LockState::kAcquired}};
  EXPECT_EQ(page, want);
  EXPECT_EQ(ReadLocks(R"({"locks":[]})"), LocksPage{});
}

TEST(LocksPageTest, SaysWhatIsWrong) {
  EXPECT_EQ(LocksError("{").rfind("not JSON: ", 0), 0u);
  for (const Refusal& c : std::initializer_list<Refusal>{
           {"[]", "the answer is not an object"},
           {R"({"namespace":"n"})", "the answer has no \"locks\""},
           {R"({"namespace":1,"locks":[]})", "namespace is not a string"},
           {R"({"live":-1,"locks":[]})", "live is not a number >= 0"},
           {R"({"locks":[7]})", "lock #1 is not an object"},
           {R"({"locks":[{"id":"x","state":"acquired",)"
            R"("resources":[]}]})",
            "lock #1 id is not a lock ID"},
           {R"({"locks":[{"id":"","state":"acquired",)"
            R"("resources":[]}]})",
            "lock #1 id is not a lock ID"},
           {R"({"locks":[{"id":"18446744073709551616",)"
            R"("state":"acquired","resources":[]}]})",
            "lock #1 id is not a lock ID"},
           {R"({"locks":[{"id":"1"}]})", "lock 1 has no \"state\""},
           {R"({"locks":[{"id":"5","state":"held",)"
            R"("resources":[]}]})",
            "lock 5 has state \"held\""},
           {R"({"locks":[{"id":"5","state":"acquired"}]})",
            "lock 5 has no \"resources\""},
           {R"({"locks":[{"id":"5","state":"acquired",)"
            R"("resources":[{"type":"rw","path":[]}]}]})",
            "lock 5 resource has type \"rw\", not read or write"},
           {R"({"locks":[{"id":"5","state":"acquired",)"
            R"("resources":[{"type":"read","path":["a",1]}]}]})",
            "lock 5 resource path segment is not a string"},
           {R"({"locks":[{"id":"5","state":"acquired",)"
            R"("resources":[{"type":"read"}]}]})",
            "lock 5 resource has no \"path\""},
           {R"({"locks":[{"id":"5","state":"enqueued",)"
            R"("resources":[],"waits_for":"1"}]})",
            "lock 5 waits_for is not an array"},
           {R"({"locks":[{"id":"5","state":"enqueued",)"
            R"("resources":[],"waits_for":["one"]}]})",
            "lock 5 waits_for is not a lock ID"},
           {R"({"locks":[{"id":"5","state":"acquired",)"
            R"("resources":[],"connection":"7"}]})",
            "lock 5 connection is not a number >= 0"},
           {R"({"locks":[{"id":"5","state":"acquired",)"
            R"("resources":[],"abandoned":true}]})",
            "lock 5 is abandoned without \"release_in_ms\""},
           {R"({"locks":[{"id":"5","state":"acquired",)"
            R"("resources":[],"release_in_ms":5}]})",
            "lock 5 has \"release_in_ms\" but is neither abandoned nor "
            "detached"},
           {R"({"locks":[{"id":"5","state":"acquired",)"
            R"("resources":[],"abandoned":1,"release_in_ms":5}]})",
            "lock 5 abandoned is not a boolean"},
       }) {
    EXPECT_EQ(LocksError(c.text), c.error) << c.text;
  }
}

// ---- Parse(Format(v)) == v --------------------------------------------------

template <class T>
rc::Gen<std::optional<T>> Optional(rc::Gen<T> gen) {
  return rc::gen::oneOf(rc::gen::just(std::optional<T>()),
                        rc::gen::map(std::move(gen), [](T value) {
                          return std::optional<T>(std::move(value));
                        }));
}

rc::Gen<Resource> GenResource() {
  return rc::gen::build<Resource>(
      rc::gen::set(&Resource::access,
                   rc::gen::element(Access::kRead, Access::kWrite)),
      rc::gen::set(&Resource::path));
}

rc::Gen<ListedLock> GenLock() {
  return rc::gen::build<ListedLock>(
      rc::gen::set(&ListedLock::id),
      rc::gen::set(&ListedLock::state, rc::gen::element(LockState::kAcquired,
                                                        LockState::kEnqueued)),
      rc::gen::set(&ListedLock::resources,
                   rc::gen::resize(6, rc::gen::container<std::vector<Resource>>(
                                          GenResource()))),
      rc::gen::set(&ListedLock::client_name,
                   Optional(rc::gen::arbitrary<std::string>())),
      rc::gen::set(&ListedLock::connection,
                   Optional(rc::gen::arbitrary<std::uint64_t>())),
      rc::gen::set(&ListedLock::peer,
                   Optional(rc::gen::arbitrary<std::string>())),
      rc::gen::set(&ListedLock::since_ms),
      rc::gen::set(&ListedLock::release_in_ms,
                   Optional(rc::gen::arbitrary<std::uint64_t>())),
      rc::gen::set(&ListedLock::waits_for),
      rc::gen::set(&ListedLock::waits_for_more));
}

RC_GTEST_PROP(PagesRoundTrip, Stats, ()) {
  const auto page = *rc::gen::build<StatsPage>(
      rc::gen::set(
          &StatsPage::stats,
          rc::gen::build<Stats>(rc::gen::set(&Stats::last_id),
                                rc::gen::set(&Stats::locks_pending),
                                rc::gen::set(&Stats::locks_acquired),
                                rc::gen::set(&Stats::resources_pending),
                                rc::gen::set(&Stats::resources_acquired),
                                rc::gen::set(&Stats::path_count))),
      rc::gen::set(&StatsPage::memory_bytes));
  const auto parsed = ParseStatsPage(FormatStatsPage(page));
  RC_ASSERT(parsed.ok());
  RC_ASSERT(parsed.value() == page);
}

RC_GTEST_PROP(PagesRoundTrip, Namespaces, ()) {
  const auto page = *rc::gen::build<NamespacesPage>(
      rc::gen::set(&NamespacesPage::open),
      rc::gen::set(&NamespacesPage::opened),
      rc::gen::set(&NamespacesPage::namespaces,
                   rc::gen::container<std::vector<ListedNamespace>>(
                       rc::gen::build<ListedNamespace>(
                           rc::gen::set(&ListedNamespace::name),
                           rc::gen::set(&ListedNamespace::locks_acquired),
                           rc::gen::set(&ListedNamespace::locks_pending)))),
      rc::gen::set(&NamespacesPage::more));
  const auto parsed = ParseNamespacesPage(FormatNamespacesPage(page));
  RC_ASSERT(parsed.ok());
  RC_ASSERT(parsed.value() == page);
}

RC_GTEST_PROP(PagesRoundTrip, Locks, ()) {
  const auto page = *rc::gen::build<LocksPage>(
      rc::gen::set(&LocksPage::ns), rc::gen::set(&LocksPage::live),
      rc::gen::set(&LocksPage::more),
      // Small enough for a hundred pages in well under a second.
      rc::gen::set(
          &LocksPage::locks,
          rc::gen::resize(
              12, rc::gen::container<std::vector<ListedLock>>(GenLock()))));
  const auto parsed = ParseLocksPage(FormatLocksPage(page));
  RC_ASSERT(parsed.ok());
  RC_ASSERT(parsed.value() == page);
}

}  // namespace
}  // namespace locktopus::wire
