#include "client/ctl/command_line.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

namespace locktopus::ctl {
namespace {

// Milliseconds of 1e9 s fit an int64 (Milliseconds() in locktopusctl.cc).
constexpr double kMaxDurationSeconds = 1e9;

// `text` ("90", "500ms", "1.5 h") in seconds, if it is a duration of 0 to
// kMaxDurationSeconds. The number is read as CLI11 reads a double.
std::optional<double> DurationSeconds(std::string_view text) {
  const auto space = [](char c) { return c == ' ' || c == '\t'; };
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  std::size_t unit_at = text.size();
  while (unit_at > 0 &&
         std::isalpha(static_cast<unsigned char>(text[unit_at - 1])) != 0) {
    --unit_at;
  }
  std::string unit(text.substr(unit_at));
  for (char& c : unit) c = static_cast<char>(std::tolower(c));
  static const std::map<std::string, double> kUnits = {
      {"", 1}, {"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}};
  const auto factor = kUnits.find(unit);
  std::string_view number = text.substr(0, unit_at);
  while (!number.empty() && space(number.front())) number.remove_prefix(1);
  while (!number.empty() && space(number.back())) number.remove_suffix(1);
  double value = 0;
  if (factor == kUnits.end() ||
      !CLI::detail::lexical_cast(std::string(number), value)) {
    return std::nullopt;
  }
  value *= factor->second;
  if (!(value >= 0 && value <= kMaxDurationSeconds)) return std::nullopt;
  return value;
}

template <class T>
CLI::Option* AddDuration(CLI::App& app, const std::string& name, T& seconds,
                         const std::string& help) {
  return app.add_option(name, seconds, help)
      ->type_name("DUR")
      ->transform(CLI::Validator(
          [](std::string& input) {
            const std::optional<double> value = DurationSeconds(input);
            if (!value) {
              return input +
                     " is not a duration of 0 to 1e9 seconds (500ms, 10s, "
                     "2m, 1h)";
            }
            // Shortest text that reads back as the same double.
            char text[32];
            const auto end = std::to_chars(text, text + sizeof text, *value);
            input.assign(text, end.ptr);
            return std::string();
          },
          ""));
}

}  // namespace

CLI::Option* AddDurationOption(CLI::App& app, const std::string& name,
                               double& seconds, const std::string& help) {
  return AddDuration(app, name, seconds, help);
}

CLI::Option* AddDurationOption(CLI::App& app, const std::string& name,
                               std::optional<double>& seconds,
                               const std::string& help) {
  return AddDuration(app, name, seconds, help);
}

HiddenTokens HideTokens(int argc, const char* const* argv) {
  HiddenTokens hidden;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i > 0 && arg == "--") {
      hidden.args.insert(hidden.args.end(), argv + i, argv + argc);
      break;
    }
    if (i > 0 && arg == "--token" && i + 1 < argc) {
      hidden.args.emplace_back(arg);
      hidden.args.emplace_back(kHiddenToken);
      hidden.tokens.emplace_back(argv[++i]);
    } else if (i > 0 && arg.starts_with("--token=")) {
      hidden.args.push_back("--token=" + std::string(kHiddenToken));
      hidden.tokens.emplace_back(arg.substr(8));
    } else {
      hidden.args.emplace_back(arg);
    }
  }
  return hidden;
}

std::string UsageMessage(const CLI::ParseError& error, const CLI::App& app,
                         const std::vector<std::string>& secrets) {
  if (dynamic_cast<const CLI::ExtrasError*>(&error) == nullptr) {
    return error.what();
  }
  const std::vector<std::string> extras = app.remaining(true);
  if (extras.empty()) return error.what();
  std::string message = extras.size() > 1
                            ? "The following arguments were not expected:"
                            : "The following argument was not expected:";
  for (const std::string& arg : extras) {
    const bool secret =
        !arg.empty() &&
        std::find(secrets.begin(), secrets.end(), arg) != secrets.end();
    message += " " + (secret ? std::string(kHiddenToken) : arg);
  }
  return message;
}

}  // namespace locktopus::ctl
