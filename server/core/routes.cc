#include "server/core/routes.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <charconv>

#include "wire/codec.h"

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
std::variant<std::string, HttpError> Namespace(
    const boost::urls::url_view& url, const RouteLimits& limits) {
  std::optional<std::string> ns = Param(url, "namespace");
  if (!ns || ns->empty()) return HttpError{400, std::string(kNamespaceRequired)};
  if (ns->size() > limits.max_namespace_bytes) {
    return HttpError{400, "URL parameter 'namespace' of " +
                              std::to_string(ns->size()) + " bytes is " +
                              wire::OverLimit("max-namespace-bytes",
                                        limits.max_namespace_bytes)};
  }
  return *std::move(ns);
}

}  // namespace

bool IsOpen(const Route& route) {
  return std::holds_alternative<HealthRoute>(route) ||
         std::holds_alternative<ReadyRoute>(route) ||
         std::holds_alternative<AssetRoute>(route);
}

Route RouteTarget(std::string_view target, const RouteLimits& limits,
                  std::optional<std::string>* token) {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return HttpError{400, "Malformed request target"};
  const boost::urls::url_view& url = *parsed;
  if (token != nullptr) *token = Param(url, "token");
  const std::string path = url.path();

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
    if (std::optional<std::string> text = Param(url, "limit")) {
      std::size_t limit = 0;
      const char* end = text->data() + text->size();
      auto [ptr, ec] = std::from_chars(text->data(), end, limit);
      if (text->empty() || ec != std::errc() || ptr != end || limit < 1 ||
          limit > kMaxNamespacesLimit) {
        return HttpError{400, "URL parameter 'limit' should be an integer "
                              "from 1 to " +
                                  std::to_string(kMaxNamespacesLimit)};
      }
      route.limit = limit;
    }
    return route;
  }
  if (path == "/metrics") return MetricsRoute{};
  if (path == "/healthz") return HealthRoute{};
  if (path == "/readyz") return ReadyRoute{};
  if (path != "/v1" && path != "/stats_v1" && path != "/stats") {
    return HttpError{404, "Not found"};
  }

  auto ns = Namespace(url, limits);
  if (auto* error = std::get_if<HttpError>(&ns)) return *error;
  std::string name = std::get<std::string>(std::move(ns));
  if (path != "/v1") return StatsRoute{std::move(name)};

  LockRoute route{std::move(name), std::nullopt};
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
