#include "server/core/ha/record.h"

#include <boost/json.hpp>

namespace locktopus::server::ha {
namespace json = boost::json;

std::string Encode(const Record& r) {
  return json::serialize(json::object{{"ceiling", r.ceiling},
                                      {"clean", r.clean},
                                      {"epoch", r.epoch},
                                      {"window_ms", r.window_ms},
                                      {"abandon_ms", r.abandon_ms}});
}

std::optional<Record> Decode(std::string_view text) {
  boost::system::error_code ec;
  const json::value value = json::parse(text, ec);
  const json::object* o = ec ? nullptr : value.if_object();
  if (o == nullptr) return std::nullopt;
  auto number = [o](std::string_view key) -> std::optional<std::uint64_t> {
    const json::value* v = o->if_contains(key);
    if (v == nullptr) return std::nullopt;
    if (v->is_uint64()) return v->get_uint64();
    if (v->is_int64() && v->get_int64() >= 0) return v->get_int64();
    return std::nullopt;
  };
  const json::value* clean = o->if_contains("clean");
  const auto ceiling = number("ceiling"), epoch = number("epoch"),
             window = number("window_ms"), abandon = number("abandon_ms");
  if (clean == nullptr || !clean->is_bool() || !ceiling || !epoch || !window ||
      !abandon) {
    return std::nullopt;
  }
  return Record{.ceiling = *ceiling,
                .clean = clean->get_bool(),
                .epoch = static_cast<std::int64_t>(*epoch),
                .window_ms = *window,
                .abandon_ms = *abandon};
}

}  // namespace locktopus::server::ha
