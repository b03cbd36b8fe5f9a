#include "server/core/ha/record.h"

#include <algorithm>
#include <boost/json.hpp>

#include "server/core/ha/json_number.h"

namespace locktopus::server::ha {
namespace json = boost::json;

bool Record::InSync(std::string_view name, std::int64_t revision) const {
  return std::any_of(in_sync.begin(), in_sync.end(), [&](const Member& m) {
    return m.name == name && m.revision == revision;
  });
}

std::string Encode(const Record& r) {
  json::array members;
  for (const Member& m : r.in_sync) {
    members.push_back(json::object{{"name", m.name}, {"revision", m.revision}});
  }
  return json::serialize(json::object{{"ceiling", r.ceiling},
                                      {"clean", r.clean},
                                      {"epoch", r.epoch},
                                      {"window_ms", r.window_ms},
                                      {"abandon_ms", r.abandon_ms},
                                      {"in_sync", std::move(members)},
                                      {"version", r.version}});
}

namespace {

std::optional<std::uint64_t> Number(const json::object& o,
                                    std::string_view key) {
  return UnsignedOf(o.if_contains(key));
}

// in_sync's members; nullopt if any is malformed.
std::optional<std::vector<Member>> Members(const json::array& array) {
  std::vector<Member> members;
  for (const json::value& v : array) {
    const json::object* o = v.if_object();
    const json::value* name = o ? o->if_contains("name") : nullptr;
    const auto revision = o ? Number(*o, "revision") : std::nullopt;
    if (name == nullptr || !name->is_string() || !revision) return std::nullopt;
    members.push_back({.name = std::string(name->get_string()),
                       .revision = static_cast<std::int64_t>(*revision)});
  }
  return members;
}

}  // namespace

std::optional<Record> Decode(std::string_view text) {
  boost::system::error_code ec;
  const json::value value = json::parse(text, ec);
  const json::object* o = ec ? nullptr : value.if_object();
  if (o == nullptr) return std::nullopt;
  const json::value* clean = o->if_contains("clean");
  const auto ceiling = Number(*o, "ceiling"), epoch = Number(*o, "epoch"),
             window = Number(*o, "window_ms"),
             abandon = Number(*o, "abandon_ms");
  if (clean == nullptr || !clean->is_bool() || !ceiling || !epoch || !window ||
      !abandon) {
    return std::nullopt;
  }
  Record record{.ceiling = *ceiling,
                .clean = clean->get_bool(),
                .epoch = static_cast<std::int64_t>(*epoch),
                .window_ms = *window,
                .abandon_ms = *abandon};
  // Written before replication: no member, version 0. Present: all of it.
  if (const json::value* in_sync = o->if_contains("in_sync")) {
    const auto version = Number(*o, "version");
    const auto members =
        in_sync->is_array() ? Members(in_sync->get_array()) : std::nullopt;
    if (!version || !members) return std::nullopt;
    record.in_sync = *members;
    record.version = *version;
  }
  return record;
}

}  // namespace locktopus::server::ha
