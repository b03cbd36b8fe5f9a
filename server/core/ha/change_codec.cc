#include "server/core/ha/change_codec.h"

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "server/core/ha/json_number.h"
#include "wire/codec.h"

namespace locktopus::server::ha {
namespace json = boost::json;
namespace {

void AppendString(std::string& out, std::string_view text) {
  out += json::serialize(json::string_view(text.data(), text.size()));
}

void AppendField(std::string& out, std::string_view key, std::uint64_t value) {
  out += ",\"";
  out += key;
  out += "\":";
  out += std::to_string(value);
}

void AppendField(std::string& out, std::string_view key,
                 std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":";
  AppendString(out, value);
}

// Reads the fields of one object, each at most once; any field it was not
// asked for makes the object malformed (Done).
class Fields {
 public:
  explicit Fields(const json::object& object) : object_(object) {}

  bool Has(std::string_view key) const { return object_.contains(key); }
  const json::value* Get(std::string_view key) {
    const json::value* value = object_.if_contains(key);
    if (value != nullptr) ++used_;
    return value;
  }
  // An unsigned integer field; nullopt if absent or of another type.
  std::optional<std::uint64_t> Number(std::string_view key) {
    return UnsignedOf(Get(key));
  }
  // As Number, but 0 is refused too.
  std::optional<std::uint64_t> Id(std::string_view key) {
    std::optional<std::uint64_t> id = Number(key);
    if (id == 0) return std::nullopt;
    return id;
  }
  std::optional<std::string> Text(std::string_view key) {
    const json::value* value = Get(key);
    if (value == nullptr || !value->is_string()) return std::nullopt;
    return std::string(value->get_string());
  }
  // Whether every field was read: none is unknown.
  bool Done() const { return used_ == object_.size(); }

 private:
  const json::object& object_;
  std::size_t used_ = 0;
};

std::optional<Resource> ParseResource(const json::value& value) {
  const json::object* object = value.if_object();
  if (object == nullptr) return std::nullopt;
  Fields fields(*object);
  const std::optional<std::string> type = fields.Text("type");
  const json::value* path = fields.Get("path");
  if (!type || path == nullptr || !path->is_array() || !fields.Done()) {
    return std::nullopt;
  }
  Resource resource;
  if (*type == "read") {
    resource.access = Access::kRead;
  } else if (*type == "write") {
    resource.access = Access::kWrite;
  } else {
    return std::nullopt;
  }
  for (const json::value& segment : path->get_array()) {
    if (!segment.is_string()) return std::nullopt;
    resource.path.emplace_back(segment.get_string());
  }
  return resource;
}

std::optional<Change> ParseRequest(Fields& fields) {
  LockRequested c;
  const std::optional<std::string> ns = fields.Text("ns");
  const std::optional<std::uint64_t> id = fields.Id("id");
  const json::value* resources = fields.Get("resources");
  const std::optional<std::uint64_t> timeout = fields.Number("timeout_ms");
  if (!ns || !id || resources == nullptr || !resources->is_array() ||
      !timeout) {
    return std::nullopt;
  }
  c.ns = *ns;
  c.id = *id;
  c.owner.timeout_ms = *timeout;
  if (fields.Has("session")) {
    const std::optional<std::uint64_t> session = fields.Id("session");
    if (!session) return std::nullopt;
    c.owner.session = *session;
  }
  if (const json::value* acquired = fields.Get("acquired")) {
    if (!acquired->is_bool()) return std::nullopt;
    c.acquired = acquired->get_bool();
  }
  for (const json::value& value : resources->get_array()) {
    std::optional<Resource> resource = ParseResource(value);
    if (!resource) return std::nullopt;
    c.resources.push_back(*std::move(resource));
  }
  return c;
}

std::optional<Change> ParseBody(std::string_view kind, Fields& fields) {
  if (kind == "request") return ParseRequest(fields);
  if (kind == "end") {
    const std::optional<std::string> ns = fields.Text("ns");
    const std::optional<std::uint64_t> id = fields.Id("id");
    if (!ns || !id) return std::nullopt;
    return LockEnded{.ns = *ns, .id = *id};
  }
  if (kind == "skip") {
    const std::optional<std::string> ns = fields.Text("ns");
    const std::optional<std::uint64_t> last = fields.Number("last_id");
    if (!ns || !last) return std::nullopt;
    return IdsSkipped{.ns = *ns, .last_id = *last};
  }
  if (kind == "session") {
    const std::optional<std::uint64_t> id = fields.Id("id");
    const std::optional<std::string> secret = fields.Text("secret");
    const std::optional<std::string> ns = fields.Text("ns");
    const std::optional<std::uint64_t> window = fields.Number("window_ms");
    if (!id || !secret || !ns || !window) return std::nullopt;
    return SessionOpened{
        .id = *id, .secret = *secret, .ns = *ns, .window_ms = *window};
  }
  if (kind == "session_end") {
    const std::optional<std::uint64_t> id = fields.Id("id");
    if (!id) return std::nullopt;
    return SessionEnded{.id = *id};
  }
  return std::nullopt;
}

}  // namespace

std::string FormatChange(const ChangeFrame& frame) {
  std::string out = "{";
  if (frame.position != 0) {
    out += "\"pos\":";
    out += std::to_string(frame.position);
    out += ',';
  }
  out += "\"change\":";
  const Change& change = frame.change;
  if (const auto* c = std::get_if<LockRequested>(&change)) {
    out += "\"request\"";
    AppendField(out, "ns", c->ns);
    AppendField(out, "id", c->id);
    out += ",\"resources\":";
    wire::AppendResources(out, c->resources);
    if (c->owner.session != 0) AppendField(out, "session", c->owner.session);
    AppendField(out, "timeout_ms", c->owner.timeout_ms);
    if (c->acquired) {
      out += *c->acquired ? ",\"acquired\":true" : ",\"acquired\":false";
    }
  } else if (const auto* c = std::get_if<LockEnded>(&change)) {
    out += "\"end\"";
    AppendField(out, "ns", c->ns);
    AppendField(out, "id", c->id);
  } else if (const auto* c = std::get_if<IdsSkipped>(&change)) {
    out += "\"skip\"";
    AppendField(out, "ns", c->ns);
    AppendField(out, "last_id", c->last_id);
  } else if (const auto* c = std::get_if<SessionOpened>(&change)) {
    out += "\"session\"";
    AppendField(out, "id", c->id);
    AppendField(out, "secret", c->secret);
    AppendField(out, "ns", c->ns);
    AppendField(out, "window_ms", c->window_ms);
  } else if (const auto* c = std::get_if<SessionEnded>(&change)) {
    out += "\"session_end\"";
    AppendField(out, "id", c->id);
  }
  out += '}';
  return out;
}

std::optional<ChangeFrame> ParseChange(std::string_view text) {
  json::parse_options options;
  options.max_depth = 8;  // a request's path is the deepest: 4
  // Namespace names are bytes, as the server has them (a URL may carry any).
  options.allow_invalid_utf8 = true;
  boost::system::error_code ec;
  const json::value value = json::parse(text, ec, {}, options);
  if (ec) return std::nullopt;
  const json::object* object = value.if_object();
  if (object == nullptr) return std::nullopt;
  Fields fields(*object);
  ChangeFrame frame;
  if (fields.Has("pos")) {
    const std::optional<std::uint64_t> position = fields.Id("pos");
    if (!position) return std::nullopt;
    frame.position = *position;
  }
  const std::optional<std::string> kind = fields.Text("change");
  if (!kind) return std::nullopt;
  std::optional<Change> change = ParseBody(*kind, fields);
  if (!change || !fields.Done()) return std::nullopt;
  frame.change = *std::move(change);
  return frame;
}

}  // namespace locktopus::server::ha
