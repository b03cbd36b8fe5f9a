#include "server/core/routes.h"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>

#include "wire/codec.h"
#include "wire/utf8.h"

namespace locktopus::server {
namespace {

constexpr std::string_view kNamespaceRequired =
    "URL parameter 'namespace' is required";
constexpr std::string_view kBadAbandonTimeout =
    "URL parameter 'abandon-timeout-ms' should be integer value >= 0 "
    "representing broken connection timeout (in milliseconds)";

// The decoded value of the first parameter named `key`, if present.
std::optional<std::string> Param(const boost::urls::url_view& url,
                                 std::string_view key) {
  auto params = url.params();
  auto it = params.find(key);
  if (it == params.end()) return std::nullopt;
  return std::string((*it).value);
}

// Validates the namespace parameter; returns an error or the name.
std::variant<std::string, HttpError> Namespace(const boost::urls::url_view& url,
                                               const RouteLimits& limits) {
  std::optional<std::string> ns = Param(url, "namespace");
  if (!ns || ns->empty())
    return HttpError{400, std::string(kNamespaceRequired)};
  if (ns->size() > limits.max_namespace_bytes) {
    return HttpError{400, "URL parameter 'namespace' of " +
                              std::to_string(ns->size()) + " bytes is " +
                              wire::OverLimit("max-namespace-bytes",
                                              limits.max_namespace_bytes)};
  }
  return *std::move(ns);
}

// A count parameter from `low` to `high`, or `fallback` when absent.
std::variant<std::size_t, HttpError> Count(const boost::urls::url_view& url,
                                           std::string_view key,
                                           std::size_t fallback,
                                           std::size_t low, std::size_t high) {
  const std::optional<std::string> text = Param(url, key);
  if (!text) return fallback;
  std::size_t value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (text->empty() || ec != std::errc() || ptr != end || value < low ||
      value > high) {
    return HttpError{400, "URL parameter '" + std::string(key) +
                              "' should be an integer from " +
                              std::to_string(low) + " to " +
                              std::to_string(high)};
  }
  return value;
}

// /replicate_v1's parameters: all of them, each well formed.
Route ReplicateTarget(const boost::urls::url_view& url) {
  ReplicateRoute route;
  const std::optional<std::string> member = Param(url, "member");
  if (!member || member->empty() || member->size() > kMaxMemberBytes ||
      !std::all_of(member->begin(), member->end(),
                   [](char c) { return c > 0x20 && c < 0x7F; })) {
    return HttpError{400, "URL parameter 'member' should be a server's name"};
  }
  route.member = *member;
  const auto number =
      [&url](std::string_view key) -> std::optional<std::int64_t> {
    const std::optional<std::string> text = Param(url, key);
    std::int64_t value = 0;
    if (!text || text->empty()) return std::nullopt;
    const char* end = text->data() + text->size();
    auto [ptr, ec] = std::from_chars(text->data(), end, value);
    if (ec != std::errc() || ptr != end || value < 0) return std::nullopt;
    return value;
  };
  const auto revision = number("revision"), epoch = number("epoch"),
             from = number("from");
  if (!revision || !epoch || !from) {
    return HttpError{400,
                     "URL parameters 'revision', 'epoch' and 'from' should "
                     "be integers from 0"};
  }
  route.revision = *revision;
  route.epoch = *epoch;
  route.from = static_cast<std::uint64_t>(*from);
  return route;
}

// The path parameter of /locks_v1, as locktopusctl writes paths.
std::variant<std::vector<std::string>, HttpError> InspectedPath(
    const boost::urls::url_view& url) {
  const std::optional<std::string> text = Param(url, "path");
  std::vector<std::string> path;
  if (!text || *text == "/") return path;
  const HttpError bad{400,
                      "URL parameter 'path' should be segments separated by "
                      "'/', with %2F for a '/' and %25 for a '%' inside a "
                      "segment, or '/' alone for the whole namespace"};
  if (text->empty()) return bad;
  for (std::size_t begin = 0;;) {
    const std::size_t end = text->find('/', begin);
    const std::string_view segment =
        std::string_view(*text).substr(begin, end - begin);
    auto decoded = boost::urls::make_pct_string_view(segment);
    if (!decoded) return bad;
    path.push_back(decoded->decode());
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return path;
}

// Whether `name` is UTF-8 without control characters (C0, DEL, C1).
bool IsPrintableUtf8(std::string_view name) {
  while (!name.empty()) {
    const std::size_t length = wire::Utf8CharLength(name);
    if (length == 0) return false;
    const auto c = static_cast<unsigned char>(name[0]);
    if (c < 0x20 || c == 0x7F) return false;
    // U+0080 to U+009F: 0xC2 0x80 to 0xC2 0x9F.
    if (c == 0xC2 && static_cast<unsigned char>(name[1]) < 0xA0) return false;
    name.remove_prefix(length);
  }
  return true;
}

// DELETE /locks_v1's route, or its refusal.
Route ReleaseTarget(const boost::urls::url_view& url,
                    const RouteLimits& limits) {
  auto ns = Namespace(url, limits);
  if (auto* error = std::get_if<HttpError>(&ns)) return *error;
  const std::optional<std::string> text = Param(url, "id");
  std::uint64_t id = 0;
  if (text) {
    const char* end = text->data() + text->size();
    auto [ptr, ec] = std::from_chars(text->data(), end, id);
    if (text->empty() || ec != std::errc() || ptr != end) id = 0;
  }
  if (id == 0) {
    return HttpError{400,
                     "URL parameter 'id' should be a lock ID, an integer "
                     "from 1 to 18446744073709551615"};
  }
  return ReleaseRoute{std::get<std::string>(std::move(ns)), id};
}

}  // namespace

bool IsOpen(const Route& route) {
  return std::holds_alternative<HealthRoute>(route) ||
         std::holds_alternative<ReadyRoute>(route) ||
         std::holds_alternative<AssetRoute>(route);
}

Route RouteTarget(std::string_view target, const RouteLimits& limits,
                  std::optional<std::string>* token, RouteVerb verb) {
  const HttpError not_allowed{405, "Method not allowed"};
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) {
    if (verb == RouteVerb::kDelete) return not_allowed;
    return HttpError{400, "Malformed request target"};
  }
  const boost::urls::url_view& url = *parsed;
  if (token != nullptr) *token = Param(url, "token");
  const std::string path = url.path();
  if (verb == RouteVerb::kDelete) {
    if (path == "/locks_v1") return ReleaseTarget(url, limits);
    Route route = RouteTarget(target, limits);
    if (std::holds_alternative<HttpError>(route)) return not_allowed;
    return route;
  }

  if (path == "/") {
    return StatusRoute{Param(url, "filter").value_or(""),
                       Param(url, "namespace").value_or("")};
  }
  if (path == "/dashboard.css" || path == "/dashboard.js") {
    return AssetRoute{path};
  }
  if (path == "/namespaces_v1") {
    NamespacesRoute route{Param(url, "filter").value_or(""),
                          kDefaultNamespacesLimit};
    auto limit = Count(url, "limit", route.limit, 1, kMaxNamespacesLimit);
    if (auto* error = std::get_if<HttpError>(&limit)) return *error;
    route.limit = std::get<std::size_t>(limit);
    return route;
  }
  if (path == "/metrics") return MetricsRoute{};
  if (path == "/replicate_v1") return ReplicateTarget(url);
  if (path == "/healthz") return HealthRoute{};
  if (path == "/readyz") return ReadyRoute{};
  if (path != "/v1" && path != "/stats_v1" && path != "/stats" &&
      path != "/locks_v1") {
    return HttpError{404, "Not found"};
  }

  auto ns = Namespace(url, limits);
  if (auto* error = std::get_if<HttpError>(&ns)) return *error;
  std::string name = std::get<std::string>(std::move(ns));
  if (path == "/locks_v1") {
    LocksRoute locks{.ns = std::move(name)};
    auto inspected = InspectedPath(url);
    if (auto* error = std::get_if<HttpError>(&inspected)) return *error;
    locks.path = std::get<std::vector<std::string>>(std::move(inspected));
    auto limit = Count(url, "limit", locks.limit, 1, kMaxLocksLimit);
    if (auto* error = std::get_if<HttpError>(&limit)) return *error;
    locks.limit = std::get<std::size_t>(limit);
    auto blockers =
        Count(url, "blockers", locks.blockers, 0, kMaxBlockersLimit);
    if (auto* error = std::get_if<HttpError>(&blockers)) return *error;
    locks.blockers = std::get<std::size_t>(blockers);
    return locks;
  }
  if (path != "/v1") return StatsRoute{std::move(name)};

  LockRoute route{std::move(name), std::nullopt, {}};
  for (const auto& param : url.params()) {
    if (param.key != "namespace" && param.key != "abandon-timeout-ms" &&
        param.key != "client" && param.key != "token" &&
        param.key != "session" && route.unknown.size() < kMaxUnknownParams) {
      // Printable ASCII only: the name goes to the log.
      std::string name = param.key.substr(0, kMaxUnknownParamBytes);
      for (char& c : name) {
        if (c < 0x20 || c > 0x7E) c = '?';
      }
      route.unknown.push_back(std::move(name));
    }
  }
  if (std::optional<std::string> client = Param(url, "client")) {
    if (client->size() > kMaxClientNameBytes || !IsPrintableUtf8(*client)) {
      return HttpError{400,
                       "URL parameter 'client' should be UTF-8 without "
                       "control characters, at most " +
                           std::to_string(kMaxClientNameBytes) + " bytes"};
    }
    route.client_name = *std::move(client);
  }
  route.session = Param(url, "session");
  if (std::optional<std::string> text = Param(url, "abandon-timeout-ms")) {
    std::uint64_t ms = 0;
    const char* end = text->data() + text->size();
    auto [ptr, ec] = std::from_chars(text->data(), end, ms);
    if (text->empty() || ec != std::errc() || ptr != end) {
      return HttpError{400, std::string(kBadAbandonTimeout)};
    }
    if (ms > limits.max_abandon_timeout_ms) {
      return HttpError{400, "URL parameter 'abandon-timeout-ms' is " +
                                wire::OverLimit("max-abandon-timeout",
                                                limits.max_abandon_timeout_ms)};
    }
    route.abandon_timeout_ms = ms;
  }
  return route;
}

}  // namespace locktopus::server
