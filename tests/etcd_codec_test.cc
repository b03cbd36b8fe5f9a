// The etcd client's socket-free parts: endpoint lists, prefix ranges,
// base64, request bodies, and answers as etcd 3.4.23's gateway gives them
// (bodies copied from real answers), including those that take seconds to
// provoke: a member without a leader, a keep-alive of a lease that expired.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "etcd/client.h"
#include "etcd/codec.h"

namespace locktopus::etcd {
namespace {

namespace json = boost::json;
using Code = Error::Code;

TEST(EtcdEndpoints, ParsesAListOfHttpUrls) {
  auto r =
      ParseEndpoints("http://127.0.0.1:2379, http://[::1]:2479/,http://etcd-1");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r.value().size(), 3u);
  EXPECT_EQ(r.value()[0], (Endpoint{"127.0.0.1", 2379}));
  EXPECT_EQ(r.value()[1], (Endpoint{"::1", 2479}));
  EXPECT_EQ(r.value()[1].ToString(), "[::1]:2479");
  EXPECT_EQ(r.value()[2], (Endpoint{"etcd-1", 2379}));  // etcd's port
}

TEST(EtcdEndpoints, NamesTheBadEntry) {
  struct Case {
    std::string list;
    std::string bad;  // the entry the error must quote
    std::string why;  // and a word of why
  };
  const Case cases[] = {
      {"http://a:1,https://b:2", "\"https://b:2\"", "https is not supported"},
      {"http://a:1,127.0.0.1:2379", "\"127.0.0.1:2379\"", "URL"},
      {"localhost:2379", "\"localhost:2379\"", "http://"},
      {"http://a:1/v3", "\"http://a:1/v3\"", "path"},
      {"http://a:99999", "\"http://a:99999\"", "port"},
      {"http://a:", "\"http://a:\"", "port"},
      {"http://u@a:1", "\"http://u@a:1\"", "user info"},
      {"http://a:1?x=1", "\"http://a:1?x=1\"", "query"},
      {"http://a:1,,http://b:1", "empty", "entry"},
      {"", "empty", "entry"},
      {"http://a:1,http://a:1", "\"http://a:1\"", "twice"},
  };
  for (const Case& c : cases) {
    auto r = ParseEndpoints(c.list);
    ASSERT_FALSE(r.ok()) << c.list;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_NE(r.error().message.find(c.bad), std::string::npos)
        << c.list << " -> " << r.error().message;
    EXPECT_NE(r.error().message.find(c.why), std::string::npos)
        << c.list << " -> " << r.error().message;
  }
}

TEST(EtcdPrefixEnd, IncrementsTheLastByteThatCan) {
  EXPECT_EQ(PrefixEnd("/a/"), "/a0");
  EXPECT_EQ(PrefixEnd("a\xff"), "b");
  EXPECT_EQ(PrefixEnd(std::string("\x01\xff\xff", 3)), "\x02");
  // Nothing to increment: every key.
  EXPECT_EQ(PrefixEnd("\xff\xff"), std::string(1, '\0'));
  EXPECT_EQ(PrefixEnd(""), std::string(1, '\0'));
}

TEST(EtcdBase64, RoundTripsEveryByte) {
  EXPECT_EQ(codec::Base64Encode(""), "");
  EXPECT_EQ(codec::Base64Encode("f"), "Zg==");
  EXPECT_EQ(codec::Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(codec::Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(codec::Base64Encode("foob"), "Zm9vYg==");
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  for (std::size_t n = 0; n <= all.size(); n += 1 + n / 8) {
    const std::string bytes = all.substr(all.size() - n);
    EXPECT_EQ(codec::Base64Decode(codec::Base64Encode(bytes)), bytes) << n;
  }
  EXPECT_EQ(codec::Base64Decode("Zm8"), "fo");  // padding optional
}

TEST(EtcdBase64, RefusesWhatIsNotBase64) {
  for (const char* bad :
       {"Z", "Zg=a", "Z===", "Zh==", "Zm9v!", "Zm 9v", "Zm9v-_"}) {
    EXPECT_EQ(codec::Base64Decode(bad), std::nullopt) << bad;
  }
}

TEST(EtcdCodec, TxnBodyIsWhatTheGatewayTakes) {
  const TxnRequest txn{
      .compare = {Compare::CreateRevision("k", Compare::Op::kEqual, 0)},
      .success = {PutOp{.key = "k", .value = "v", .lease = 42}},
      .failure = {RangeRequest{.key = "k"}},
  };
  EXPECT_EQ(json::parse(codec::TxnBody(txn)), json::parse(R"({
      "compare":[{"key":"aw==","target":"CREATE","result":"EQUAL",
                  "create_revision":"0"}],
      "success":[{"request_put":{"key":"aw==","value":"dg==","lease":"42"}}],
      "failure":[{"request_range":{"key":"aw=="}}]})"));

  const TxnRequest others{
      .compare = {Compare::ModRevision("a", Compare::Op::kGreater, 7),
                  Compare::Version("a", Compare::Op::kLess, 3),
                  Compare::Value("a", Compare::Op::kNotEqual, "x")},
      .success = {DeleteOp{.key = "a", .range_end = "b"}},
  };
  EXPECT_EQ(json::parse(codec::TxnBody(others)), json::parse(R"({
      "compare":[
        {"key":"YQ==","target":"MOD","result":"GREATER","mod_revision":"7"},
        {"key":"YQ==","target":"VERSION","result":"LESS","version":"3"},
        {"key":"YQ==","target":"VALUE","result":"NOT_EQUAL","value":"eA=="}],
      "success":[{"request_delete_range":{"key":"YQ==","range_end":"Yg=="}}],
      "failure":[]})"));
}

TEST(EtcdCodec, RangeBodySortsByCreateRevisionOnRequest) {
  const RangeRequest r{.key = "/a/",
                       .range_end = "/a0",
                       .sort = RangeRequest::Sort::kByCreateRevision,
                       .limit = 1,
                       .serializable = true};
  EXPECT_EQ(json::parse(codec::RangeBody(r)), json::parse(R"({
      "key":"L2Ev","range_end":"L2Ew","limit":"1",
      "sort_order":"ASCEND","sort_target":"CREATE","serializable":true})"));
  EXPECT_EQ(json::parse(codec::RangeBody({.key = "k"})),
            json::parse(R"({"key":"aw=="})"));
}

TEST(EtcdCodec, ReadsAGrant) {
  auto r = codec::ParseLeaseGrant(200, R"({"header":{"cluster_id":
      "15118495548433857066","member_id":"13668033151171901709",
      "revision":"1","raft_term":"2"},"ID":"4111120359906689038","TTL":"5"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().id, 4111120359906689038);
  EXPECT_EQ(r.value().ttl_seconds, 5);
  EXPECT_EQ(r.value().header.revision, 1);
  EXPECT_EQ(r.value().header.member_id, 13668033151171901709u);
  EXPECT_EQ(r.value().header.raft_term, 2u);
}

TEST(EtcdCodec, KeepAliveWithoutTtlMeansTheLeaseIsGone) {
  auto alive = codec::ParseLeaseKeepAlive(200, R"({"result":{"header":{
      "revision":"3","raft_term":"2"},"ID":"4111120359906689040","TTL":"2"}})"
                                               "\n");
  ASSERT_TRUE(alive.ok()) << alive.error().message;
  EXPECT_EQ(alive.value().ttl_seconds, 2);
  EXPECT_EQ(alive.value().header.revision, 3);

  // Expired, revoked, or never granted: the same answer.
  auto gone = codec::ParseLeaseKeepAlive(200, R"({"result":{"header":{
      "revision":"3","raft_term":"2"},"ID":"4111120359906689040"}})");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Code::kNotFound);
  EXPECT_NE(gone.error().message.find("4111120359906689040"),
            std::string::npos);
}

TEST(EtcdCodec, NoLeaderAndTimeoutsAreUnavailable) {
  // A keep-alive to a member without a leader: the streaming error shape.
  auto keepalive = codec::ParseLeaseKeepAlive(503, R"({"error":{"grpc_code":14,
      "http_code":503,"message":"etcdserver: no leader",
      "http_status":"Service Unavailable"}})");
  ASSERT_FALSE(keepalive.ok());
  EXPECT_EQ(keepalive.error().code, Code::kUnavailable);
  EXPECT_EQ(keepalive.error().message, "HTTP 503: etcdserver: no leader");

  // A streaming error after a 200 has been sent keeps its own code.
  auto late = codec::ParseLeaseKeepAlive(200, R"({"error":{"grpc_code":14,
      "http_code":503,"message":"etcdserver: no leader"}})");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, Code::kUnavailable);

  // A linearizable range without a leader (after etcd's own 7 s).
  auto range = codec::ParseRange(503, R"({"error":"etcdserver: request )"
                                      R"(timed out","message":"etcdserver: )"
                                      R"(request timed out","code":14})");
  ASSERT_FALSE(range.ok());
  EXPECT_EQ(range.error().code, Code::kUnavailable);
  EXPECT_EQ(range.error().message, "HTTP 503: etcdserver: request timed out");

  // A put or a grant without a leader.
  auto txn = codec::ParseTxn(500, R"({"error":"context deadline exceeded",
      "message":"context deadline exceeded","code":2})");
  ASSERT_FALSE(txn.ok());
  EXPECT_EQ(txn.error().code, Code::kUnavailable);
  EXPECT_EQ(txn.error().message, "HTTP 500: context deadline exceeded");
}

TEST(EtcdCodec, LeaseNotFoundIsItsOwnError) {
  // A revoke of a lease already gone, a txn putting with one: 404, code 5.
  const char* body =
      R"({"error":"etcdserver: requested lease not found","message":)"
      R"("etcdserver: requested lease not found","code":5})";
  auto revoke = codec::ParseLeaseRevoke(404, body);
  ASSERT_FALSE(revoke.ok());
  EXPECT_EQ(revoke.error().code, Code::kNotFound);
  auto txn = codec::ParseTxn(404, body);
  ASSERT_FALSE(txn.ok());
  EXPECT_EQ(txn.error().code, Code::kNotFound);
}

TEST(EtcdCodec, OtherEtcdErrorsAreRejections) {
  auto r = codec::ParseRange(400, R"({"error":"etcdserver: key is not )"
                                  R"(provided","message":"etcdserver: key )"
                                  R"(is not provided","code":3})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kRejected);
  EXPECT_EQ(r.error().message, "HTTP 400: etcdserver: key is not provided");
  auto grant = codec::ParseLeaseGrant(400, R"({"error":"etcdserver: too )"
                                           R"(large lease TTL","message":)"
                                           R"("etcdserver: too large lease )"
                                           R"(TTL","code":11})");
  ASSERT_FALSE(grant.ok());
  EXPECT_EQ(grant.error().code, Code::kRejected);
}

TEST(EtcdCodec, AnswersThatAreNotEtcdsAreUnavailable) {
  // The gateway's own 404 for an unknown path, a proxy's page, garbage.
  for (auto [status, body] :
       {std::pair{404, "Not Found\n"},
        std::pair{502, "<html>Bad Gateway</html>"}, std::pair{200, "{\"kvs\":"},
        std::pair{200, "[]"}, std::pair{200, R"({"kvs":[{"key":"!!"}]})"},
        std::pair{200, R"({"count":"many"})"}}) {
    auto r = codec::ParseRange(status, body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, Code::kUnavailable) << body;
  }
  auto grant = codec::ParseLeaseGrant(200, R"({"header":{}})");
  ASSERT_FALSE(grant.ok());
  EXPECT_EQ(grant.error().code, Code::kUnavailable);
}

TEST(EtcdCodec, ReadsRangesWithOmittedZerosAndNumbersEitherWay) {
  auto none = codec::ParseRange(200, R"({"header":{"revision":"6"}})");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_TRUE(none.value().kvs.empty());
  EXPECT_EQ(none.value().count, 0);
  EXPECT_FALSE(none.value().more);
  EXPECT_EQ(none.value().header.revision, 6);

  auto some = codec::ParseRange(200, R"({"header":{"revision":6},
      "kvs":[{"key":"L2EvMQ==","create_revision":"4","mod_revision":6,
              "version":"2","value":"djFi","lease":"7"},
             {"key":"L2EvMg==","create_revision":"5","mod_revision":"5",
              "version":"1"}],
      "more":true,"count":"3"})");
  ASSERT_TRUE(some.ok()) << some.error().message;
  EXPECT_EQ(some.value().header.revision, 6);
  EXPECT_EQ(some.value().count, 3);
  EXPECT_TRUE(some.value().more);
  ASSERT_EQ(some.value().kvs.size(), 2u);
  EXPECT_EQ(some.value().kvs[0], (KeyValue{.key = "/a/1",
                                           .value = "v1b",
                                           .create_revision = 4,
                                           .mod_revision = 6,
                                           .version = 2,
                                           .lease = 7}));
  EXPECT_EQ(some.value().kvs[1].value, "");  // an empty value is omitted
  EXPECT_EQ(some.value().kvs[1].lease, 0);
}

TEST(EtcdCodec, ReadsTxnsBothWays) {
  auto won = codec::ParseTxn(200, R"({"header":{"revision":"7"},
      "succeeded":true,"responses":[{"response_put":{"header":{
      "revision":"7"}}}]})");
  ASSERT_TRUE(won.ok()) << won.error().message;
  EXPECT_TRUE(won.value().succeeded);
  EXPECT_TRUE(won.value().ranges.empty());
  EXPECT_EQ(won.value().header.revision, 7);

  // "succeeded" omitted: false. Range results in order, other kinds skipped.
  auto lost = codec::ParseTxn(200, R"({"header":{"revision":"7"},
      "responses":[
        {"response_range":{"header":{"revision":"7"},"kvs":[{"key":"L2Uvaw==",
          "create_revision":"7","mod_revision":"7","version":"1",
          "value":"bWU=","lease":"4111120359906689052"}],"count":"1"}},
        {"response_delete_range":{"header":{"revision":"7"}}},
        {"response_range":{"header":{"revision":"7"}}}]})");
  ASSERT_TRUE(lost.ok()) << lost.error().message;
  EXPECT_FALSE(lost.value().succeeded);
  ASSERT_EQ(lost.value().ranges.size(), 2u);
  ASSERT_EQ(lost.value().ranges[0].kvs.size(), 1u);
  EXPECT_EQ(lost.value().ranges[0].kvs[0].key, "/e/k");
  EXPECT_EQ(lost.value().ranges[0].kvs[0].value, "me");
  EXPECT_EQ(lost.value().ranges[0].kvs[0].lease, 4111120359906689052);
  EXPECT_TRUE(lost.value().ranges[1].kvs.empty());
}

}  // namespace
}  // namespace locktopus::etcd
