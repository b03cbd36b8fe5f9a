// The JSON of etcd's v3 HTTP gateway (grpc-gateway in etcd 3.4): request
// bodies made from types.h's requests, and a member's answer (HTTP status
// and body) turned back into its results. No I/O: the Client moves the bytes,
// and the tests feed the parsers answers as etcd gives them, including those
// that are slow to provoke (a member without a leader).
//
// What the gateway does, and these functions rely on:
//  - Keys and values are base64 (standard alphabet, padded); 64-bit
//    integers are JSON strings. Requests send strings; answers are read as
//    strings or numbers alike.
//  - Answers omit zero values: no "kvs" means none, no "succeeded" means
//    false, no "TTL" in a keep-alive answer means the lease is gone.
//  - A unary call's error is HTTP 4xx/5xx with
//    {"error":"msg","code":GRPC_CODE,"message":"msg"}; the streaming
//    keep-alive's is {"error":{"grpc_code":N,"http_code":H,"message":"msg",
//    "http_status":"..."}}, and its success is {"result":{...}}.
//
// Thread safety: plain functions of their arguments.

#ifndef LOCKTOPUS_ETCD_CODEC_H_
#define LOCKTOPUS_ETCD_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "etcd/types.h"
#include "util/result.h"

namespace locktopus::etcd::codec {

std::string Base64Encode(std::string_view bytes);
// Standard alphabet, padding optional. The bytes, or nullopt for a text
// that is not base64: a value or none, as the readers of an answer want it,
// not an Error (util/result.h); they say what the field was.
std::optional<std::string> Base64Decode(std::string_view text);

// The gateway's paths, each POSTed with the matching body.
inline constexpr std::string_view kLeaseGrantPath = "/v3/lease/grant";
inline constexpr std::string_view kLeaseKeepAlivePath = "/v3/lease/keepalive";
inline constexpr std::string_view kLeaseRevokePath = "/v3/lease/revoke";
inline constexpr std::string_view kRangePath = "/v3/kv/range";
inline constexpr std::string_view kTxnPath = "/v3/kv/txn";

std::string LeaseGrantBody(std::int64_t ttl_seconds);
std::string LeaseKeepAliveBody(LeaseId lease);
std::string LeaseRevokeBody(LeaseId lease);
std::string RangeBody(const RangeRequest& request);
std::string TxnBody(const TxnRequest& request);

// One member's answer. The Error's code says what the call does next:
// kUnavailable means this member failed (5xx, 429, or an answer that is not
// etcd's) and another may do better; any other code is final. Messages
// describe the answer ("HTTP 503: etcdserver: no leader") without naming
// the member.
Result<LeaseGrantResult> ParseLeaseGrant(int http_status,
                                         std::string_view body);
Result<LeaseKeepAliveResult> ParseLeaseKeepAlive(int http_status,
                                                 std::string_view body);
Result<LeaseRevokeResult> ParseLeaseRevoke(int http_status,
                                           std::string_view body);
Result<RangeResult> ParseRange(int http_status, std::string_view body);
Result<TxnResult> ParseTxn(int http_status, std::string_view body);

}  // namespace locktopus::etcd::codec

#endif  // LOCKTOPUS_ETCD_CODEC_H_
