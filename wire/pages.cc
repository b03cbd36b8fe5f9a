#include "wire/pages.h"

#include <boost/json.hpp>
#include <charconv>

namespace locktopus::wire {
namespace json = boost::json;
namespace {

// ---- Field names: each page's, once, for its Format and its Parse -----------

// /stats_v1's fields in the order they are written: `visit(key, field)` for
// each, with `page` a StatsPage or a const one.
template <class Page, class Visit>
void StatsFields(Page& page, Visit visit) {
  visit("LastGroupID", page.stats.last_id);
  visit("GroupsPending", page.stats.locks_pending);
  visit("GroupsAcquired", page.stats.locks_acquired);
  visit("LocksPending", page.stats.resources_pending);
  visit("LocksAcquired", page.stats.resources_acquired);
  visit("PathCount", page.stats.path_count);
  visit("MemoryBytes", page.memory_bytes);
}

// /namespaces_v1
constexpr std::string_view kOpen = "open";
constexpr std::string_view kOpened = "opened";
constexpr std::string_view kNamespaces = "namespaces";
constexpr std::string_view kMore = "more";  // and /locks_v1's
constexpr std::string_view kName = "name";
constexpr std::string_view kLocksAcquired = "locks_acquired";
constexpr std::string_view kLocksPending = "locks_pending";

// /locks_v1
constexpr std::string_view kNamespace = "namespace";
constexpr std::string_view kLive = "live";
constexpr std::string_view kLocks = "locks";
constexpr std::string_view kId = "id";
constexpr std::string_view kState = "state";
constexpr std::string_view kResources = "resources";
constexpr std::string_view kType = "type";
constexpr std::string_view kPath = "path";
constexpr std::string_view kClientName = "client_name";
constexpr std::string_view kConnection = "connection";
constexpr std::string_view kPeer = "peer";
constexpr std::string_view kSinceMs = "since_ms";
constexpr std::string_view kAbandoned = "abandoned";
constexpr std::string_view kDetached = "detached";
constexpr std::string_view kReleaseInMs = "release_in_ms";
constexpr std::string_view kWaitsFor = "waits_for";
constexpr std::string_view kWaitsForMore = "waits_for_more";

constexpr std::string_view kAcquired = "acquired";
constexpr std::string_view kEnqueued = "enqueued";
constexpr std::string_view kRead = "read";
constexpr std::string_view kWrite = "write";

// ---- Parsing ----------------------------------------------------------------

// Thrown inside the parsers only; ParsePage returns its text.
struct BadPage {
  std::string what;
};

// What messages call the page itself.
constexpr std::string_view kAnswer = "the answer";

// "<where> <key>": what a message calls a field.
std::string Name(const std::string& where, std::string_view key) {
  return where + " " + std::string(key);
}

std::uint64_t AsCount(const json::value& value, std::string_view what) {
  if (value.is_uint64()) return value.get_uint64();
  if (value.is_int64() && value.get_int64() >= 0) {
    return static_cast<std::uint64_t>(value.get_int64());
  }
  throw BadPage{std::string(what) + " is not a number >= 0"};
}

// Lock IDs travel as decimal strings, as on /v1 (docs/protocol.md).
LockId AsId(const json::value& value, std::string_view what) {
  if (!value.is_string()) {
    if (value.is_number()) return AsCount(value, what);
    throw BadPage{std::string(what) + " is not a lock ID"};
  }
  const json::string& text = value.get_string();
  LockId id = 0;
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw BadPage{std::string(what) + " is not a lock ID"};
  }
  return id;
}

std::string AsString(const json::value& value, std::string_view what) {
  if (!value.is_string()) throw BadPage{std::string(what) + " is not a string"};
  return std::string(value.get_string());
}

bool AsBool(const json::value& value, std::string_view what) {
  if (!value.is_bool()) throw BadPage{std::string(what) + " is not a boolean"};
  return value.get_bool();
}

const json::array& AsArray(const json::value& value, std::string_view what) {
  if (!value.is_array()) throw BadPage{std::string(what) + " is not an array"};
  return value.get_array();
}

const json::object& AsObject(const json::value& value, std::string_view what) {
  if (!value.is_object()) {
    throw BadPage{std::string(what) + " is not an object"};
  }
  return value.get_object();
}

const json::value& Required(const json::object& object, std::string_view key,
                            std::string_view where) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) {
    throw BadPage{std::string(where) + " has no \"" + std::string(key) + "\""};
  }
  return *value;
}

Error Bad(std::string what) {
  return Error{Error::Code::kInvalidArgument, std::move(what)};
}

// `text` parsed as JSON, its object read by `read`, or what is wrong.
template <class Page, class Read>
Result<Page> ParsePage(std::string_view text, Read read) {
  json::parse_options options;
  options.allow_invalid_utf8 = true;  // names are bytes, as the server has them
  boost::system::error_code error;
  const json::value value = json::parse(text, error, {}, options);
  if (error) return Bad("not JSON: " + error.message());
  try {
    return read(AsObject(value, kAnswer));
  } catch (const BadPage& bad) {
    return Bad(bad.what);
  }
}

Resource ParseResource(const json::value& value, const std::string& where) {
  const json::object& object = AsObject(value, where);
  Resource resource;
  const std::string type =
      AsString(Required(object, kType, where), Name(where, kType));
  if (type == kWrite) {
    resource.access = Access::kWrite;
  } else if (type == kRead) {
    resource.access = Access::kRead;
  } else {
    throw BadPage{where + " has type \"" + type + "\", not read or write"};
  }
  for (const json::value& segment :
       AsArray(Required(object, kPath, where), Name(where, kPath))) {
    resource.path.push_back(AsString(segment, Name(where, "path segment")));
  }
  return resource;
}

ListedLock ParseLock(const json::value& value, std::size_t index) {
  std::string where = "lock #" + std::to_string(index + 1);
  const json::object& object = AsObject(value, where);
  ListedLock lock;
  lock.id = AsId(Required(object, kId, where), Name(where, kId));
  where = "lock " + std::to_string(lock.id);
  const std::string state =
      AsString(Required(object, kState, where), Name(where, kState));
  if (state == kAcquired) {
    lock.state = LockState::kAcquired;
  } else if (state == kEnqueued) {
    lock.state = LockState::kEnqueued;
  } else {
    throw BadPage{where + " has state \"" + state + "\""};
  }
  for (const json::value& resource :
       AsArray(Required(object, kResources, where), Name(where, kResources))) {
    lock.resources.push_back(ParseResource(resource, where + " resource"));
  }
  if (const auto* v = object.if_contains(kClientName)) {
    lock.client_name = AsString(*v, Name(where, kClientName));
  }
  if (const auto* v = object.if_contains(kConnection)) {
    lock.connection = AsCount(*v, Name(where, kConnection));
  }
  if (const auto* v = object.if_contains(kPeer)) {
    lock.peer = AsString(*v, Name(where, kPeer));
  }
  if (const auto* v = object.if_contains(kSinceMs)) {
    lock.since_ms = AsCount(*v, Name(where, kSinceMs));
  }
  const json::value* abandoned = object.if_contains(kAbandoned);
  const json::value* detached = object.if_contains(kDetached);
  const json::value* release = object.if_contains(kReleaseInMs);
  lock.detached =
      detached != nullptr && AsBool(*detached, Name(where, kDetached));
  if (lock.detached ||
      (abandoned != nullptr && AsBool(*abandoned, Name(where, kAbandoned)))) {
    if (release == nullptr) {
      throw BadPage{where + " is " +
                    (lock.detached ? "detached" : "abandoned") + " without \"" +
                    std::string(kReleaseInMs) + "\""};
    }
    lock.release_in_ms = AsCount(*release, Name(where, kReleaseInMs));
  } else if (release != nullptr) {
    throw BadPage{where + " has \"" + std::string(kReleaseInMs) +
                  "\" but is neither abandoned nor detached"};
  }
  if (const auto* v = object.if_contains(kWaitsFor)) {
    for (const json::value& id : AsArray(*v, Name(where, kWaitsFor))) {
      lock.waits_for.push_back(AsId(id, Name(where, kWaitsFor)));
    }
  }
  if (const auto* v = object.if_contains(kWaitsForMore)) {
    lock.waits_for_more = AsBool(*v, Name(where, kWaitsForMore));
  }
  return lock;
}

ListedNamespace ParseNamespace(const json::value& value, std::size_t index) {
  const std::string where = "namespace #" + std::to_string(index + 1);
  const json::object& object = AsObject(value, where);
  return {.name = AsString(Required(object, kName, where), Name(where, kName)),
          .locks_acquired = AsCount(Required(object, kLocksAcquired, where),
                                    Name(where, kLocksAcquired)),
          .locks_pending = AsCount(Required(object, kLocksPending, where),
                                   Name(where, kLocksPending))};
}

// ---- Writing ----------------------------------------------------------------

json::object ResourceJson(const Resource& resource) {
  json::array path;
  path.reserve(resource.path.size());
  for (const std::string& segment : resource.path) path.emplace_back(segment);
  return {{kType, resource.access == Access::kWrite ? kWrite : kRead},
          {kPath, std::move(path)}};
}

json::object LockJson(const ListedLock& lock) {
  json::array resources;
  resources.reserve(lock.resources.size());
  for (const Resource& r : lock.resources) resources.push_back(ResourceJson(r));
  json::array waits_for;
  waits_for.reserve(lock.waits_for.size());
  for (LockId id : lock.waits_for) waits_for.emplace_back(std::to_string(id));
  json::object object{
      {kId, std::to_string(lock.id)},
      {kState, lock.state == LockState::kAcquired ? kAcquired : kEnqueued},
      {kResources, std::move(resources)}};
  if (lock.client_name) object[kClientName] = *lock.client_name;
  if (lock.connection) object[kConnection] = *lock.connection;
  if (lock.peer) object[kPeer] = *lock.peer;
  object[kSinceMs] = lock.since_ms;
  if (lock.release_in_ms) {
    object[lock.detached ? kDetached : kAbandoned] = true;
    object[kReleaseInMs] = *lock.release_in_ms;
  }
  object[kWaitsFor] = std::move(waits_for);
  object[kWaitsForMore] = lock.waits_for_more;
  return object;
}

}  // namespace

std::string FormatStatsPage(const StatsPage& page) {
  json::object object;
  StatsFields(page, [&object](std::string_view key, std::uint64_t value) {
    object[key] = value;
  });
  return json::serialize(object);
}

Result<StatsPage> ParseStatsPage(std::string_view text) {
  return ParsePage<StatsPage>(text, [](const json::object& object) {
    StatsPage page;
    StatsFields(page, [&object](std::string_view key, std::uint64_t& field) {
      field = AsCount(Required(object, key, kAnswer), key);
    });
    return page;
  });
}

std::string FormatNamespacesPage(const NamespacesPage& page) {
  json::array namespaces;
  namespaces.reserve(page.namespaces.size());
  for (const ListedNamespace& ns : page.namespaces) {
    namespaces.push_back(json::object{{kName, ns.name},
                                      {kLocksAcquired, ns.locks_acquired},
                                      {kLocksPending, ns.locks_pending}});
  }
  return json::serialize(json::object{{kOpen, page.open},
                                      {kOpened, page.opened},
                                      {kNamespaces, std::move(namespaces)},
                                      {kMore, page.more}});
}

Result<NamespacesPage> ParseNamespacesPage(std::string_view text) {
  return ParsePage<NamespacesPage>(text, [](const json::object& object) {
    NamespacesPage page{
        .open = AsCount(Required(object, kOpen, kAnswer), kOpen),
        .opened = AsCount(Required(object, kOpened, kAnswer), kOpened),
        .more = AsBool(Required(object, kMore, kAnswer), kMore)};
    const json::array& namespaces =
        AsArray(Required(object, kNamespaces, kAnswer), kNamespaces);
    page.namespaces.reserve(namespaces.size());
    for (std::size_t i = 0; i < namespaces.size(); ++i) {
      page.namespaces.push_back(ParseNamespace(namespaces[i], i));
    }
    return page;
  });
}

std::string FormatLocksPage(const LocksPage& page) {
  json::array locks;
  locks.reserve(page.locks.size());
  for (const ListedLock& lock : page.locks) locks.emplace_back(LockJson(lock));
  return json::serialize(json::object{{kNamespace, page.ns},
                                      {kLive, page.live},
                                      {kMore, page.more},
                                      {kLocks, std::move(locks)}});
}

Result<LocksPage> ParseLocksPage(std::string_view text) {
  return ParsePage<LocksPage>(text, [](const json::object& object) {
    LocksPage page;
    if (const auto* v = object.if_contains(kNamespace)) {
      page.ns = AsString(*v, kNamespace);
    }
    if (const auto* v = object.if_contains(kLive)) {
      page.live = AsCount(*v, kLive);
    }
    if (const auto* v = object.if_contains(kMore)) {
      page.more = AsBool(*v, kMore);
    }
    const json::array& locks =
        AsArray(Required(object, kLocks, kAnswer), kLocks);
    page.locks.reserve(locks.size());
    for (std::size_t i = 0; i < locks.size(); ++i) {
      page.locks.push_back(ParseLock(locks[i], i));
    }
    return page;
  });
}

}  // namespace locktopus::wire
