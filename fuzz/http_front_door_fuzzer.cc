// http_front_door: arbitrary bytes as an HTTP request target, into
// RouteTarget. It must never crash (the sanitizers watch), and every answer
// must be one docs/protocol.md allows:
//   - a LockRoute, StatsRoute or LocksRoute names a non-empty namespace of at
//   most
//     max-namespace-bytes, and a LockRoute's abandon timeout, if any, is at
//     most max-abandon-timeout;
//   - a refusal is 400 or 404 and has a body;
//   - a LockRoute, StatsRoute or LocksRoute round-trips: its canonical target,
//   with the
//     namespace percent-encoded, routes to the same answer (so query values
//     are URL-decoded exactly once).
// The target is routed twice, under the default RouteLimits and under small
// ones, and the two must agree: which endpoint a target reaches does not
// depend on limits; a route within the small limits is the same under both;
// a route over a small limit is a 400 whose body names it ("over max-...");
// a 400 under the defaults stays a 400 (fuzz/limits_check.h).
//
// Routed for DELETE, the target must give a ReleaseRoute (a non-empty
// namespace within the limits and an ID of 1 or more, which round-trips
// through its canonical target), a 400, or what a read gives, its refusal
// turned 405.
//
// The same bytes are also read as the body of each JSON page the server
// answers (/stats_v1, /namespaces_v1, /locks_v1) by its wire/pages.h
// Parse, which must take anything: a page it reads, written by its Format
// and read again, is the same page.
//
// Input: one byte that picks the small limits, then the target.

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fuzz/limits_check.h"
#include "fuzz/report.h"
#include "server/core/routes.h"
#include "wire/pages.h"

namespace locktopus::fuzz {
namespace {

using server::HttpError;
using server::LockRoute;
using server::LocksRoute;
using server::Route;
using server::RouteLimits;
using server::StatsRoute;
using server::StatusRoute;

// The namespace of a LockRoute, StatsRoute or LocksRoute, or nullptr.
const std::string* NamespaceOf(const Route& route) {
  if (const auto* lock = std::get_if<LockRoute>(&route)) return &lock->ns;
  if (const auto* stats = std::get_if<StatsRoute>(&route)) return &stats->ns;
  if (const auto* locks = std::get_if<LocksRoute>(&route)) return &locks->ns;
  return nullptr;
}

bool IsStatus(const Route& route, unsigned status) {
  const auto* error = std::get_if<HttpError>(&route);
  return error != nullptr && error->status == status;
}

// Every byte but the RFC 3986 unreserved ones as %XX.
std::string PercentEncode(std::string_view text) {
  return boost::urls::encode(text, boost::urls::unreserved_chars);
}

// A LocksRoute's path as locktopusctl writes paths: "/" for the whole
// namespace, '%' and '/' inside a segment as %25 and %2F.
std::string PathText(const std::vector<std::string>& path) {
  if (path.empty()) return "/";
  std::string text;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (i > 0) text += '/';
    for (const char c : path[i]) {
      text += c == '%' ? "%25" : c == '/' ? "%2F" : std::string(1, c);
    }
  }
  return text;
}

// The plainest target that should give `route` (a LockRoute, StatsRoute or
// LocksRoute).
std::string CanonicalTarget(const Route& route) {
  const auto* lock = std::get_if<LockRoute>(&route);
  const auto* locks = std::get_if<LocksRoute>(&route);
  std::string target = lock != nullptr    ? "/v1"
                       : locks != nullptr ? "/locks_v1"
                                          : "/stats_v1";
  target += "?namespace=" + PercentEncode(*NamespaceOf(route));
  if (lock != nullptr && lock->abandon_timeout_ms) {
    target +=
        "&abandon-timeout-ms=" + std::to_string(*lock->abandon_timeout_ms);
  }
  if (lock != nullptr && lock->session) {
    target += "&session=" + PercentEncode(*lock->session);
  }
  if (lock != nullptr && !lock->client_name.empty()) {
    target += "&client=" + PercentEncode(lock->client_name);
  }
  // The unknown parameters' names, as kept (printable, cut, at most 8).
  for (const std::string& name :
       lock != nullptr ? lock->unknown : std::vector<std::string>{}) {
    target += "&" + PercentEncode(name) + "=";
  }
  if (locks != nullptr) {
    target += "&path=" + PercentEncode(PathText(locks->path)) +
              "&limit=" + std::to_string(locks->limit) +
              "&blockers=" + std::to_string(locks->blockers);
  }
  return target;
}

struct HttpFrontDoor {
  using Limits = RouteLimits;
  using Answer = Route;
  static constexpr std::string_view kHarness = "http_front_door";
  static constexpr std::string_view kInput = "target";
  static constexpr std::string_view kAnswer = "route";

  // Each at most the default, so that they only tighten.
  static Limits Tight(std::uint8_t selector) {
    static constexpr std::uint64_t kAbandonMs[] = {0, 1, 1000, 86'400'000};
    return {.max_namespace_bytes = selector & 7u,
            .max_abandon_timeout_ms = kAbandonMs[selector >> 3 & 3]};
  }

  static std::string Describe(const Limits& l) {
    return "{namespace bytes " + std::to_string(l.max_namespace_bytes) +
           ", abandon timeout ms " + std::to_string(l.max_abandon_timeout_ms) +
           "}";
  }

  static std::string Describe(const Answer& route) {
    if (const auto* lock = std::get_if<LockRoute>(&route)) {
      return "lock namespace " + Quoted(lock->ns) + " abandon timeout " +
             (lock->abandon_timeout_ms
                  ? std::to_string(*lock->abandon_timeout_ms) + " ms"
                  : "default") +
             " client " + Quoted(lock->client_name);
    }
    if (const auto* stats = std::get_if<StatsRoute>(&route)) {
      return "stats namespace " + Quoted(stats->ns);
    }
    if (const auto* locks = std::get_if<LocksRoute>(&route)) {
      std::string path;
      for (const std::string& segment : locks->path) path += "/" + segment;
      return "locks namespace " + Quoted(locks->ns) + " path " + Quoted(path) +
             " limit " + std::to_string(locks->limit) + " blockers " +
             std::to_string(locks->blockers);
    }
    if (const auto* status = std::get_if<StatusRoute>(&route)) {
      return "status page filter " + Quoted(status->filter) + " namespace " +
             Quoted(status->ns);
    }
    if (std::holds_alternative<server::MetricsRoute>(route)) return "metrics";
    if (std::holds_alternative<server::HealthRoute>(route)) return "health";
    if (std::holds_alternative<server::ReadyRoute>(route)) return "readiness";
    if (const auto* list = std::get_if<server::NamespacesRoute>(&route)) {
      return "namespaces filter " + Quoted(list->filter) + " limit " +
             std::to_string(list->limit);
    }
    if (const auto* asset = std::get_if<server::AssetRoute>(&route)) {
      return "asset " + Quoted(asset->path);
    }
    if (const auto* release = std::get_if<server::ReleaseRoute>(&route)) {
      return "force release namespace " + Quoted(release->ns) + " lock " +
             std::to_string(release->id);
    }
    const auto& error = std::get<HttpError>(route);
    return "HTTP " + std::to_string(error.status) + " " + Quoted(error.body);
  }

  static Answer Read(std::string_view target, const Limits& limits) {
    return server::RouteTarget(target, limits);
  }
  // A 400, which tighter limits may give; a 404 they never do.
  static bool Refused(const Answer& route) { return IsStatus(route, 400); }
  static std::string_view RefusalText(const Answer& route) {
    return std::get<HttpError>(route).body;
  }
  // The routes to a namespace: which endpoint a target reaches does not
  // depend on the limits.
  static bool Limited(const Answer& route) {
    return NamespaceOf(route) != nullptr;
  }
  static bool WithinLimits(const Answer& route, std::string_view,
                           const Limits& limits) {
    const std::string* ns = NamespaceOf(route);
    if (ns != nullptr && ns->size() > limits.max_namespace_bytes) return false;
    const auto* lock = std::get_if<LockRoute>(&route);
    return lock == nullptr || !lock->abandon_timeout_ms ||
           *lock->abandon_timeout_ms <= limits.max_abandon_timeout_ms;
  }

  // A refusal is a 400 or a 404 with a body; a route to a namespace names a
  // non-empty one and round-trips through its canonical target.
  static void CheckAlone(const LimitsCheck<HttpFrontDoor>& check,
                         const Answer& route, const Limits& limits) {
    if (const auto* error = std::get_if<HttpError>(&route)) {
      check.Require(error->status == 400 || error->status == 404,
                    "a refusal other than 400 or 404", route, limits);
      check.Require(!error->body.empty(), "a refusal without a body", route,
                    limits);
      return;
    }
    if (const std::string* ns = NamespaceOf(route)) {
      check.Require(!ns->empty(), "a route to an empty namespace", route,
                    limits);
      const Route again = server::RouteTarget(CanonicalTarget(route), limits);
      check.Require(again == route,
                    "a route that does not round-trip; " +
                        CanonicalTarget(route) + " gives " + Describe(again),
                    route, limits);
    }
  }
};

// Reads `text` with `parse`; a page it reads must come back the same from
// its Format.
template <class Page, class Format>
void CheckPage(std::string_view text, Result<Page> (*parse)(std::string_view),
               Format format, std::string_view name) {
  const Result<Page> page = parse(text);
  if (!page.ok()) return;
  const std::string written = format(page.value());
  const Result<Page> again = parse(written);
  if (!again.ok() || !(again.value() == page.value())) {
    Fail("http_front_door", std::string(name) +
                                " page not read back the same\ntext:    " +
                                Quoted(text) + "\nwritten: " + Quoted(written));
  }
}

// The DELETE routing of `target` (see the file comment).
void CheckDelete(std::string_view target) {
  const RouteLimits limits;
  const auto del = [&limits](std::string_view t) {
    return server::RouteTarget(t, limits, nullptr, server::RouteVerb::kDelete);
  };
  const Route route = del(target);
  const auto fail = [&](const std::string& what) {
    Fail("http_front_door", what + "\ntarget: " + Quoted(target) +
                                "\nroute:  " + HttpFrontDoor::Describe(route));
  };
  if (const auto* release = std::get_if<server::ReleaseRoute>(&route)) {
    if (release->ns.empty() ||
        release->ns.size() > limits.max_namespace_bytes || release->id == 0) {
      fail("DELETE routed to a bad force release");
    }
    const std::string canonical =
        "/locks_v1?namespace=" + PercentEncode(release->ns) +
        "&id=" + std::to_string(release->id);
    if (del(canonical) != route)
      fail("a force release that does not round-trip");
    return;
  }
  if (IsStatus(route, 400) || IsStatus(route, 405)) return;
  if (route != server::RouteTarget(target, limits)) {
    fail("DELETE routed elsewhere than a read");
  }
}

}  // namespace
}  // namespace locktopus::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace locktopus::fuzz;
  LimitsCheck<HttpFrontDoor>::Run(data, size);
  // The target, the bytes after the limits' byte, for DELETE and as each
  // JSON page too.
  ByteReader in(data, size);
  in.Byte();
  const std::string_view target = in.Rest();
  CheckDelete(target);
  CheckPage(target, &locktopus::wire::ParseStatsPage,
            &locktopus::wire::FormatStatsPage, "/stats_v1");
  CheckPage(target, &locktopus::wire::ParseNamespacesPage,
            &locktopus::wire::FormatNamespacesPage, "/namespaces_v1");
  CheckPage(target, &locktopus::wire::ParseLocksPage,
            &locktopus::wire::FormatLocksPage, "/locks_v1");
  return 0;
}
