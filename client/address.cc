// ParseUrl, LockTarget, ParsePath and FormatPath, on Boost.URL.

#include "locktopus/address.h"

#include <algorithm>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>
#include <stdexcept>

namespace locktopus::client {
namespace urls = boost::urls;

namespace {

std::uint64_t ParseCount(std::string_view text, std::string_view what) {
  std::uint64_t value = 0;
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw std::invalid_argument(std::string(what) + " is not a number >= 0: '" +
                                std::string(text) + "'");
  }
  return value;
}

}  // namespace

ServerAddress ParseUrl(std::string_view text) {
  auto parsed = urls::parse_uri(text);
  if (!parsed) {
    throw std::invalid_argument("not a URL: '" + std::string(text) + "'");
  }
  const urls::url_view url = *parsed;
  const std::string scheme = url.scheme();
  ServerAddress address;
  if (scheme == "wss" || scheme == "https") {
    address.tls = true;
  } else if (scheme != "ws" && scheme != "http") {
    throw std::invalid_argument(
        "URL scheme must be ws://, wss://, http:// or https://, not '" +
        scheme + "://'");
  }
  address.host = url.host_address();
  if (address.host.empty()) {
    throw std::invalid_argument("URL has no host: '" + std::string(text) + "'");
  }
  if (url.has_port()) {
    const std::uint64_t port = ParseCount(url.port(), "URL port");
    if (port == 0 || port > 65535) {
      throw std::invalid_argument("URL port out of range: " +
                                  std::string(url.port()));
    }
    address.port = static_cast<std::uint16_t>(port);
  } else {
    address.port = address.tls ? 443 : 80;
  }
  const std::string path = url.path();
  if (!path.empty() && path != "/" && path != "/v1") {
    throw std::invalid_argument("URL path must be /v1 or empty, not '" + path +
                                "'");
  }
  for (const auto& param : url.params()) {
    if (param.key == "namespace") {
      address.ns = param.value;
    } else if (param.key == "abandon-timeout-ms") {
      address.abandon_timeout_ms =
          ParseCount(param.value, "abandon-timeout-ms");
    } else if (param.key == "client") {
      address.client_name = param.value;
    } else if (param.key == "session") {
      if (param.value != "new") {
        throw std::invalid_argument(
            "session= in a URL must be 'new' (a client resumes its own "
            "session), not '" +
            std::string(param.value) + "'");
      }
      address.session = true;
    }
  }
  return address;
}

std::string LockTarget(const ServerAddress& address,
                       std::string_view resume_token) {
  // Only unreserved characters stay as they are: the server decodes '+' in
  // a query value as a space, so it must travel as %2B.
  std::string target =
      "/v1?namespace=" + urls::encode(address.ns, urls::unreserved_chars);
  if (address.abandon_timeout_ms && resume_token.empty()) {
    target +=
        "&abandon-timeout-ms=" + std::to_string(*address.abandon_timeout_ms);
  }
  if (!address.client_name.empty()) {
    target +=
        "&client=" + urls::encode(address.client_name, urls::unreserved_chars);
  }
  if (!resume_token.empty()) {
    target += "&session=" + urls::encode(resume_token, urls::unreserved_chars);
  } else if (address.session) {
    target += "&session=new";
  }
  return target;
}

SilenceRule SilenceRuleFor(const ServerAddress& address) {
  using std::chrono::milliseconds;
  // Below this a limit is within the jitter of a loaded machine: no rule.
  constexpr milliseconds kShortestLimit(100);
  const milliseconds interval = address.ping_interval.count() > 0
                                    ? address.ping_interval
                                    : ServerAddress{}.ping_interval;
  SilenceRule rule{.ping_every = interval, .limit = 2 * interval};
  if (address.abandon_timeout_ms) {
    // Capped where no abandon timeout can reach (the server allows a day by
    // default), so that nothing below overflows.
    const milliseconds abandon(static_cast<std::int64_t>(
        std::min<std::uint64_t>(*address.abandon_timeout_ms, 1ULL << 53)));
    const milliseconds margin = std::max(abandon / 5, milliseconds(200));
    if (abandon - margin >= kShortestLimit) {
      rule.limit = abandon - margin;
      rule.ping_every = std::min(interval, rule.limit / 2);
    }
  }
  rule.suspect = rule.limit;
  if (address.session) {
    rule.suspect = rule.limit / 2;
    rule.ping_every = std::min(rule.ping_every, rule.limit / 4);
  }
  return rule;
}

std::vector<std::string> ParsePath(std::string_view text) {
  if (text.empty()) {
    throw std::invalid_argument("empty path (write / for the whole namespace)");
  }
  std::vector<std::string> path;
  if (text == "/") return path;
  for (std::size_t begin = 0;;) {
    const std::size_t end = text.find('/', begin);
    const std::string_view segment = text.substr(begin, end - begin);
    auto decoded = urls::make_pct_string_view(segment);
    if (!decoded) {
      throw std::invalid_argument("bad %-escape in path segment '" +
                                  std::string(segment) +
                                  "' (write %2F for '/', %25 for '%')");
    }
    path.push_back(decoded->decode());
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  return path;
}

std::string FormatPath(const std::vector<std::string>& path) {
  if (path.empty()) return "/";
  std::string text;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (i > 0) text += '/';
    for (const char c : path[i]) {
      if (c == '%') {
        text += "%25";
      } else if (c == '/') {
        text += "%2F";
      } else {
        text += c;
      }
    }
  }
  return text;
}

}  // namespace locktopus::client
