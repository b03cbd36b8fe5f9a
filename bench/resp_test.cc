// The RESP codec of locktopus-bench's Redis clients (bench/resp.h).

#include "bench/resp.h"

#include <gtest/gtest.h>

#include <string>

namespace locktopus::bench::resp {
namespace {

using Kind = Reply::Kind;

Reply Simple(std::string text) { return {Kind::kSimple, std::move(text), 0}; }
Reply Error(std::string text) { return {Kind::kError, std::move(text), 0}; }
Reply Integer(std::int64_t n) { return {Kind::kInteger, "", n}; }
Reply Bulk(std::string text) { return {Kind::kBulk, std::move(text), 0}; }
Reply Null() { return {Kind::kNull, "", 0}; }

// Parses `data`, expecting one whole reply that uses all of it.
Reply ParseWhole(const std::string& data) {
  Reply reply;
  std::size_t used = 0;
  EXPECT_EQ(ParseReply(data, reply, used), Parse::kDone) << data;
  EXPECT_EQ(used, data.size()) << data;
  return reply;
}

TEST(RespCommand, IsAnArrayOfBulkStrings) {
  EXPECT_EQ(Command({"GET", "k"}), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  EXPECT_EQ(Command({"SET", "lock:1", "t0k", "NX", "PX", "30000"}),
            "*6\r\n$3\r\nSET\r\n$6\r\nlock:1\r\n$3\r\nt0k\r\n$2\r\nNX\r\n"
            "$2\r\nPX\r\n$5\r\n30000\r\n");
}

TEST(RespCommand, CarriesAnyBytes) {
  // A Lua script has newlines; a bulk string is counted, not delimited.
  EXPECT_EQ(Command({"a\r\nb", ""}), "*2\r\n$4\r\na\r\nb\r\n$0\r\n\r\n");
}

TEST(RespReply, EachKindSetsReplies) {
  EXPECT_EQ(ParseWhole("+OK\r\n"), Simple("OK"));
  EXPECT_EQ(ParseWhole("-NOSCRIPT No matching script\r\n"),
            Error("NOSCRIPT No matching script"));
  EXPECT_EQ(ParseWhole(":1\r\n"), Integer(1));
  EXPECT_EQ(ParseWhole(":0\r\n"), Integer(0));
  EXPECT_EQ(ParseWhole(":-42\r\n"), Integer(-42));
  EXPECT_EQ(ParseWhole("$40\r\n" + std::string(40, 'f') + "\r\n"),
            Bulk(std::string(40, 'f')));
  EXPECT_EQ(ParseWhole("$0\r\n\r\n"), Bulk(""));
  EXPECT_EQ(ParseWhole("$4\r\na\r\nb\r\n"), Bulk("a\r\nb"));
  EXPECT_EQ(ParseWhole("$-1\r\n"), Null());
}

TEST(RespReply, ReadsOnlyTheFirstOfSeveral) {
  Reply reply;
  std::size_t used = 0;
  ASSERT_EQ(ParseReply("+OK\r\n:1\r\n", reply, used), Parse::kDone);
  EXPECT_EQ(reply, Simple("OK"));
  EXPECT_EQ(used, 5u);
}

TEST(RespReply, EveryPrefixIsIncomplete) {
  for (const std::string whole : {"+OK\r\n", "-ERR x\r\n", ":12\r\n",
                                  "$3\r\nabc\r\n", "$-1\r\n", "$0\r\n\r\n"}) {
    for (std::size_t n = 0; n < whole.size(); ++n) {
      Reply reply;
      std::size_t used = 0;
      EXPECT_EQ(ParseReply(whole.substr(0, n), reply, used), Parse::kIncomplete)
          << "[" << whole.substr(0, n) << "] of [" << whole << "]";
    }
  }
}

TEST(RespReply, RefusesWhatTheseCommandsNeverGet) {
  for (const std::string bad : {"*1\r\n$1\r\na\r\n",  // an array
                                "_\r\n",              // RESP3 null
                                "OK\r\n", "\r\n", ":\r\n", ":1x\r\n", ":+1\r\n",
                                "$-2\r\n", "$x\r\n", "$\r\n",
                                "$3\r\nabcd\r\n",  // longer than announced
                                "+O\rK\r\n",       // a CR inside a line
                                "+O\rK"}) {
    Reply reply;
    std::size_t used = 0;
    EXPECT_EQ(ParseReply(bad, reply, used), Parse::kMalformed) << bad;
  }
}

TEST(RespReply, BoundsBulkStrings) {
  Reply reply;
  std::size_t used = 0;
  EXPECT_EQ(ParseReply("$11\r\n", reply, used, 10), Parse::kMalformed);
  EXPECT_EQ(ParseReply("$10\r\n", reply, used, 10), Parse::kIncomplete);
}

}  // namespace
}  // namespace locktopus::bench::resp
