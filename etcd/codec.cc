#include "etcd/codec.h"

#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <limits>
#include <type_traits>

namespace locktopus::etcd::codec {
namespace json = boost::json;
namespace {

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// How much of a body that is not etcd's an error quotes.
constexpr std::size_t kQuotedBodyBytes = 120;

// An answer that does not have the shape the parsers rely on. Thrown and
// caught inside this file only; it becomes a kUnavailable Error.
struct BadAnswer {
  std::string what;
};

Error Unavailable(std::string message) {
  return {Error::Code::kUnavailable, std::move(message)};
}

// A body quoted in an error: printable ASCII only, cut short.
std::string Quote(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, kQuotedBodyBytes)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (body.size() > kQuotedBodyBytes) out += "...";
  return out;
}

// --- Reading answers ---------------------------------------------------

template <class Int>
Int ReadInt(const json::object& o, std::string_view field) {
  const json::value* v = o.if_contains(field);
  if (v == nullptr || v->is_null()) return 0;  // omitted: zero
  if (const json::string* s = v->if_string()) {
    Int n = 0;
    const auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), n);
    if (ec == std::errc() && end == s->data() + s->size()) return n;
  } else if (v->is_int64() || v->is_uint64()) {
    // Numbers are taken as well as strings; one that does not fit is bad.
    json::error_code ec;
    const Int n = v->to_number<Int>(ec);
    if (!ec) return n;
  }
  throw BadAnswer{"field " + std::string(field) + " is not a " +
                  (std::is_signed_v<Int> ? "int64" : "uint64")};
}

bool ReadBool(const json::object& o, std::string_view field) {
  const json::value* v = o.if_contains(field);
  if (v == nullptr || v->is_null()) return false;
  if (const bool* b = v->if_bool()) return *b;
  throw BadAnswer{"field " + std::string(field) + " is not a bool"};
}

std::string ReadBytes(const json::object& o, std::string_view field) {
  const json::value* v = o.if_contains(field);
  if (v == nullptr || v->is_null()) return {};
  if (const json::string* s = v->if_string()) {
    if (auto bytes = Base64Decode(*s)) return *std::move(bytes);
  }
  throw BadAnswer{"field " + std::string(field) + " is not base64"};
}

// A nested object; an empty one when omitted.
const json::object& ReadObject(const json::object& o, std::string_view field) {
  static const json::object kEmpty;
  const json::value* v = o.if_contains(field);
  if (v == nullptr || v->is_null()) return kEmpty;
  if (const json::object* object = v->if_object()) return *object;
  throw BadAnswer{"field " + std::string(field) + " is not an object"};
}

// A nested array; an empty one when omitted.
const json::array& ReadArray(const json::object& o, std::string_view field) {
  static const json::array kEmpty;
  const json::value* v = o.if_contains(field);
  if (v == nullptr || v->is_null()) return kEmpty;
  if (const json::array* array = v->if_array()) return *array;
  throw BadAnswer{"field " + std::string(field) + " is not an array"};
}

const json::object& AsObject(const json::value& v, std::string_view what) {
  if (const json::object* object = v.if_object()) return *object;
  throw BadAnswer{std::string(what) + " is not an object"};
}

ResponseHeader ReadHeader(const json::object& answer) {
  const json::object& h = ReadObject(answer, "header");
  return {.revision = ReadInt<std::int64_t>(h, "revision"),
          .cluster_id = ReadInt<std::uint64_t>(h, "cluster_id"),
          .member_id = ReadInt<std::uint64_t>(h, "member_id"),
          .raft_term = ReadInt<std::uint64_t>(h, "raft_term")};
}

KeyValue ReadKeyValue(const json::object& o) {
  return {.key = ReadBytes(o, "key"),
          .value = ReadBytes(o, "value"),
          .create_revision = ReadInt<std::int64_t>(o, "create_revision"),
          .mod_revision = ReadInt<std::int64_t>(o, "mod_revision"),
          .version = ReadInt<std::int64_t>(o, "version"),
          .lease = ReadInt<std::int64_t>(o, "lease")};
}

RangeResult ReadRange(const json::object& o) {
  RangeResult result{.header = ReadHeader(o),
                     .count = ReadInt<std::int64_t>(o, "count"),
                     .more = ReadBool(o, "more")};
  for (const json::value& kv : ReadArray(o, "kvs")) {
    result.kvs.push_back(ReadKeyValue(AsObject(kv, "a kv")));
  }
  return result;
}

// The error an etcd error object means for the call. `http_status` is the
// one the gateway mapped the gRPC code to.
Error EtcdError(int http_status, std::string_view message) {
  std::string text =
      "HTTP " + std::to_string(http_status) + ": " + std::string(message);
  // 5xx: the member could not serve it now (no leader, request timed out,
  // stopping); 429: it is overloaded. Another member may do better.
  if (http_status >= 500 || http_status == 429) {
    return Unavailable(std::move(text));
  }
  // ErrGRPCLeaseNotFound, codes.NotFound: for a revoke, a put with the
  // lease, or a txn that runs one.
  if (message.find("lease not found") != std::string_view::npos) {
    return {Error::Code::kNotFound, std::move(text)};
  }
  return {Error::Code::kRejected, std::move(text)};
}

// The JSON object of a successful answer, or the Error the answer means.
// A member that is not etcd's gateway (another server on the port, a proxy's
// error page) counts as unavailable: another endpoint may be etcd.
Result<json::object> Unwrap(int http_status, std::string_view body) {
  json::error_code ec;
  json::value parsed = json::parse(body, ec);
  json::object* answer = ec ? nullptr : parsed.if_object();
  if (answer == nullptr) {
    return Unavailable("HTTP " + std::to_string(http_status) +
                       ", not etcd's JSON: " + Quote(body));
  }
  if (const json::value* error = answer->if_contains("error")) {
    if (const json::string* message = error->if_string()) {
      return EtcdError(http_status, *message);
    }
    if (const json::object* streamed = error->if_object()) {
      // A streaming call's error carries its own HTTP code: it may come
      // after a 200 has been sent.
      const json::value* code = streamed->if_contains("http_code");
      const json::value* message = streamed->if_contains("message");
      return EtcdError(code != nullptr && code->is_int64()
                           ? static_cast<int>(code->get_int64())
                           : http_status,
                       message != nullptr && message->is_string()
                           ? std::string_view(message->get_string())
                           : std::string_view("(no message)"));
    }
  }
  if (http_status != 200) {
    return Unavailable("HTTP " + std::to_string(http_status) + ": " +
                       Quote(body));
  }
  return std::move(*answer);
}

// Unwraps, then reads the object with `read`; a shape `read` does not
// expect makes the member unavailable.
template <class T, class Read>
Result<T> Parse(int http_status, std::string_view body, Read read) {
  Result<json::object> answer = Unwrap(http_status, body);
  if (!answer.ok()) return answer.error();
  try {
    return read(answer.value());
  } catch (const BadAnswer& bad) {
    return Unavailable("unexpected answer (" + bad.what + "): " + Quote(body));
  }
}

// --- Writing requests --------------------------------------------------

// 64-bit integers go as strings, as the gateway writes them (JSON numbers
// lose precision past 2^53 in many readers).
json::string Int(std::int64_t n) { return json::string(std::to_string(n)); }

json::string Bytes(std::string_view bytes) {
  return json::string(Base64Encode(bytes));
}

json::object RangeObject(const RangeRequest& r) {
  json::object o;
  o["key"] = Bytes(r.key);
  if (!r.range_end.empty()) o["range_end"] = Bytes(r.range_end);
  if (r.limit != 0) o["limit"] = Int(r.limit);
  if (r.sort == RangeRequest::Sort::kByCreateRevision) {
    o["sort_order"] = "ASCEND";
    o["sort_target"] = "CREATE";
  }
  if (r.serializable) o["serializable"] = true;
  return o;
}

json::object OpObject(const TxnOp& op) {
  json::object o;
  if (const auto* put = std::get_if<PutOp>(&op)) {
    json::object p;
    p["key"] = Bytes(put->key);
    p["value"] = Bytes(put->value);
    if (put->lease != 0) p["lease"] = Int(put->lease);
    o["request_put"] = std::move(p);
  } else if (const auto* del = std::get_if<DeleteOp>(&op)) {
    json::object d;
    d["key"] = Bytes(del->key);
    if (!del->range_end.empty()) d["range_end"] = Bytes(del->range_end);
    o["request_delete_range"] = std::move(d);
  } else {
    o["request_range"] = RangeObject(std::get<RangeRequest>(op));
  }
  return o;
}

std::string_view TargetName(Compare::Target target) {
  switch (target) {
    case Compare::Target::kCreateRevision:
      return "CREATE";
    case Compare::Target::kModRevision:
      return "MOD";
    case Compare::Target::kVersion:
      return "VERSION";
    case Compare::Target::kValue:
      return "VALUE";
  }
  return "CREATE";
}

std::string_view OpName(Compare::Op op) {
  switch (op) {
    case Compare::Op::kEqual:
      return "EQUAL";
    case Compare::Op::kNotEqual:
      return "NOT_EQUAL";
    case Compare::Op::kGreater:
      return "GREATER";
    case Compare::Op::kLess:
      return "LESS";
  }
  return "EQUAL";
}

json::object CompareObject(const Compare& c) {
  json::object o;
  o["key"] = Bytes(c.key);
  o["target"] = TargetName(c.target);
  o["result"] = OpName(c.op);
  switch (c.target) {
    case Compare::Target::kCreateRevision:
      o["create_revision"] = Int(c.number);
      break;
    case Compare::Target::kModRevision:
      o["mod_revision"] = Int(c.number);
      break;
    case Compare::Target::kVersion:
      o["version"] = Int(c.number);
      break;
    case Compare::Target::kValue:
      o["value"] = Bytes(c.value);
      break;
  }
  return o;
}

json::array OpsArray(const std::vector<TxnOp>& ops) {
  json::array a;
  for (const TxnOp& op : ops) a.push_back(OpObject(op));
  return a;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = static_cast<std::uint8_t>(bytes[i]) << 16 |
                            static_cast<std::uint8_t>(bytes[i + 1]) << 8 |
                            static_cast<std::uint8_t>(bytes[i + 2]);
    out += kBase64Alphabet[n >> 18];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += kBase64Alphabet[(n >> 6) & 63];
    out += kBase64Alphabet[n & 63];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t n = static_cast<std::uint8_t>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<std::uint8_t>(bytes[i + 1]) << 8;
    out += kBase64Alphabet[n >> 18];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += rest == 2 ? kBase64Alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  static const std::array<std::int8_t, 256> kValue = [] {
    std::array<std::int8_t, 256> value;
    value.fill(-1);
    for (std::size_t i = 0; i < kBase64Alphabet.size(); ++i) {
      value[static_cast<std::uint8_t>(kBase64Alphabet[i])] =
          static_cast<std::int8_t>(i);
    }
    return value;
  }();
  if (text.size() % 4 == 0 && !text.empty() && text.back() == '=') {
    text.remove_suffix(text.size() >= 2 && text[text.size() - 2] == '=' ? 2
                                                                        : 1);
  }
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int held = 0;
  for (char c : text) {
    const std::int8_t v = kValue[static_cast<std::uint8_t>(c)];
    if (v < 0) return std::nullopt;
    bits = bits << 6 | static_cast<std::uint32_t>(v);
    held += 6;
    if (held >= 8) {
      held -= 8;
      out += static_cast<char>((bits >> held) & 0xff);
    }
  }
  // Leftover bits must be zero, or the text is not a canonical encoding.
  if ((bits & ((1u << held) - 1)) != 0) return std::nullopt;
  return out;
}

std::string LeaseGrantBody(std::int64_t ttl_seconds) {
  return json::serialize(json::object{{"TTL", Int(ttl_seconds)}});
}

std::string LeaseKeepAliveBody(LeaseId lease) {
  return json::serialize(json::object{{"ID", Int(lease)}});
}

std::string LeaseRevokeBody(LeaseId lease) {
  return json::serialize(json::object{{"ID", Int(lease)}});
}

std::string RangeBody(const RangeRequest& request) {
  return json::serialize(RangeObject(request));
}

std::string TxnBody(const TxnRequest& request) {
  json::array compare;
  for (const Compare& c : request.compare) compare.push_back(CompareObject(c));
  json::object o;
  o["compare"] = std::move(compare);
  o["success"] = OpsArray(request.success);
  o["failure"] = OpsArray(request.failure);
  return json::serialize(o);
}

Result<LeaseGrantResult> ParseLeaseGrant(int http_status,
                                         std::string_view body) {
  return Parse<LeaseGrantResult>(
      http_status, body, [](const json::object& o) -> LeaseGrantResult {
        LeaseGrantResult result{.header = ReadHeader(o),
                                .id = ReadInt<std::int64_t>(o, "ID"),
                                .ttl_seconds = ReadInt<std::int64_t>(o, "TTL")};
        // A grant answers its error in "error" (handled by Unwrap); an
        // answer without an ID or TTL is not one etcd gives.
        if (result.id == 0 || result.ttl_seconds <= 0) {
          throw BadAnswer{"no lease ID or TTL"};
        }
        return result;
      });
}

Result<LeaseKeepAliveResult> ParseLeaseKeepAlive(int http_status,
                                                 std::string_view body) {
  Result<json::object> answer = Unwrap(http_status, body);
  if (!answer.ok()) return answer.error();
  try {
    const json::object& r = ReadObject(answer.value(), "result");
    if (r.empty()) throw BadAnswer{"no result"};
    const std::int64_t ttl = ReadInt<std::int64_t>(r, "TTL");
    // etcd answers a keep-alive of an expired, revoked or unknown lease
    // with 200 and a result without TTL (TTL 0 omitted).
    if (ttl <= 0) {
      return Error{Error::Code::kNotFound,
                   "lease " + std::to_string(ReadInt<std::int64_t>(r, "ID")) +
                       " not found (keep-alive answered TTL 0)"};
    }
    return LeaseKeepAliveResult{.header = ReadHeader(r), .ttl_seconds = ttl};
  } catch (const BadAnswer& bad) {
    return Unavailable("unexpected answer (" + bad.what + "): " + Quote(body));
  }
}

Result<LeaseRevokeResult> ParseLeaseRevoke(int http_status,
                                           std::string_view body) {
  return Parse<LeaseRevokeResult>(http_status, body, [](const json::object& o) {
    return LeaseRevokeResult{.header = ReadHeader(o)};
  });
}

Result<RangeResult> ParseRange(int http_status, std::string_view body) {
  return Parse<RangeResult>(http_status, body, ReadRange);
}

Result<TxnResult> ParseTxn(int http_status, std::string_view body) {
  return Parse<TxnResult>(http_status, body, [](const json::object& o) {
    TxnResult result{.header = ReadHeader(o),
                     .succeeded = ReadBool(o, "succeeded")};
    for (const json::value& v : ReadArray(o, "responses")) {
      const json::object& response = AsObject(v, "a txn response");
      if (const json::value* range = response.if_contains("response_range")) {
        result.ranges.push_back(ReadRange(AsObject(*range, "response_range")));
      }
    }
    return result;
  });
}

}  // namespace locktopus::etcd::codec
