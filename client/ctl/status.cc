#include "client/ctl/status.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>
#include <utility>
#include <vector>

#include "client/ctl/inspect.h"

namespace locktopus::ctl {
namespace {

// The value of the unlabelled sample `name` in `text`, if there is one.
std::optional<std::string_view> Sample(std::string_view text,
                                       std::string_view name) {
  for (std::size_t begin = 0; begin < text.size();) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(begin, end - begin);
    begin = end + 1;
    if (line.size() > name.size() && line.starts_with(name) &&
        line[name.size()] == ' ') {
      line.remove_prefix(name.size() + 1);
      return line.substr(0, line.find(' '));  // no timestamp
    }
  }
  return std::nullopt;
}

Error Unreadable(std::string_view name) {
  return Error{Error::Code::kInvalidArgument,
               "no readable " + std::string(name)};
}

Status ReadCount(std::string_view text, std::string_view name,
                 std::uint64_t* out) {
  const std::optional<std::string_view> value = Sample(text, name);
  if (!value) return Unreadable(name);
  const char* end = value->data() + value->size();
  auto [ptr, ec] = std::from_chars(value->data(), end, *out);
  if (value->empty() || ec != std::errc() || ptr != end) {
    return Unreadable(name);
  }
  return {};
}

// Seconds as the server writes them ("12.5"), in whole milliseconds.
Status ReadSecondsAsMs(std::string_view text, std::string_view name,
                       std::uint64_t* out) {
  const std::optional<std::string_view> value = Sample(text, name);
  if (!value) return Unreadable(name);
  double seconds = 0;
  const char* end = value->data() + value->size();
  auto [ptr, ec] = std::from_chars(value->data(), end, seconds);
  // Under 2^53 ms, about 285,000 years: a double holds it exactly.
  if (value->empty() || ec != std::errc() || ptr != end ||
      !(seconds >= 0 && seconds < 9e12)) {
    return Unreadable(name);
  }
  *out = static_cast<std::uint64_t>(std::llround(seconds * 1000));
  return {};
}

// A field of ServerStatus read from /metrics: its JSON key, its series
// there, and whether that counts seconds (read in milliseconds).
struct Series {
  std::string_view json;
  std::string_view metric;
  std::uint64_t ServerStatus::*field;
  bool seconds = false;
};

// In the order of StatusJson's keys.
constexpr Series kSeries[] = {
    {"connections_open", "locktopus_connections_open",
     &ServerStatus::connections_open},
    {"namespaces_open", "locktopus_namespaces", &ServerStatus::namespaces_open},
    {"namespaces_opened", "locktopus_namespaces_opened_total",
     &ServerStatus::namespaces_opened},
    {"locks_acquired", "locktopus_acquired_locks",
     &ServerStatus::locks_acquired},
    {"locks_pending", "locktopus_pending_locks", &ServerStatus::locks_pending},
    {"oldest_enqueued_lock_ms", "locktopus_oldest_enqueued_lock_seconds",
     &ServerStatus::oldest_enqueued_ms, true},
    {"oldest_acquired_lock_ms", "locktopus_oldest_acquired_lock_seconds",
     &ServerStatus::oldest_acquired_ms, true},
    {"lock_memory_bytes", "locktopus_lock_memory_bytes",
     &ServerStatus::lock_memory_bytes},
    {"lock_memory_limit_bytes", "locktopus_lock_memory_limit_bytes",
     &ServerStatus::lock_memory_limit_bytes},
};

}  // namespace

Status ReadMetrics(std::string_view text, ServerStatus* status) {
  for (const Series& series : kSeries) {
    std::uint64_t* out = &(status->*series.field);
    Status read = series.seconds ? ReadSecondsAsMs(text, series.metric, out)
                                 : ReadCount(text, series.metric, out);
    if (!read.ok()) return read;
  }
  return {};
}

std::string RenderStatus(const ServerStatus& status) {
  std::string state = Printable(status.state);
  if (status.ready) {
    state += " (takes clients)";
  } else if (status.state == "draining") {
    state += " (shutting down: refuses new clients)";
  } else {
    state += " (not its HA group's active: refuses clients)";
  }
  std::string locks = std::to_string(status.locks_acquired) + " acquired";
  if (status.locks_acquired > 0) {
    locks += " (held longest " + HumanDuration(status.oldest_acquired_ms) + ")";
  }
  locks += ", " + std::to_string(status.locks_pending) + " enqueued";
  if (status.locks_pending > 0) {
    locks +=
        " (waiting longest " + HumanDuration(status.oldest_enqueued_ms) + ")";
  }
  const std::vector<std::pair<std::string, std::string>> lines = {
      {"Server:", Printable(status.server) + (status.tls ? " (TLS)" : "")},
      {"State:", state},
      {"Connections:", std::to_string(status.connections_open) + " open"},
      {"Namespaces:", std::to_string(status.namespaces_open) + " open, " +
                          std::to_string(status.namespaces_opened) +
                          " opened since the start"},
      {"Locks:", locks},
      {"Lock memory:", std::to_string(status.lock_memory_bytes) + " of " +
                           std::to_string(status.lock_memory_limit_bytes) +
                           " bytes (--max-lock-memory)"},
  };
  std::string out;
  for (const auto& [name, value] : lines) {
    out += name + std::string(14 - name.size(), ' ') + value + "\n";
  }
  return out;
}

std::string StatusJson(const ServerStatus& status) {
  boost::json::object json;
  json["server"] = status.server;
  json["tls"] = status.tls;
  json["ready"] = status.ready;
  json["state"] = status.state;
  for (const Series& series : kSeries) {
    json[series.json] = status.*series.field;
  }
  return boost::json::serialize(json) + "\n";
}

}  // namespace locktopus::ctl
