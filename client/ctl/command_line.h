// Parts of locktopusctl's command line that are tested apart from it: its
// duration flags, and how the bearer token is kept out of every message.
//
// The token reaches locktopusctl through --token (or LOCKTOPUS_TOKEN, or
// --token-file, which are read outside CLI11). CLI11 quotes arguments in
// its messages (those it did not expect, values it refused), so the token
// is taken off the command line before CLI11 sees it: HideTokens puts
// kHiddenToken in its place, and the caller uses the token it returns.
//
// Thread safety: pure functions, except that CLI11 objects are the
// caller's.

#ifndef LOCKTOPUS_CLIENT_CTL_COMMAND_LINE_H_
#define LOCKTOPUS_CLIENT_CTL_COMMAND_LINE_H_

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace locktopus::ctl {

// Adds the duration flag `name` to `app`, read into `seconds`: a number of
// seconds, or a number with a unit, ms, s, m or h in any case ("500ms",
// "10s", "2m", "1h", "1.5 H"), from 0 up to 1e9 seconds (about 31 years,
// so that its milliseconds fit an int64). Anything else is refused with a
// message that quotes it and says what a duration is.
CLI::Option* AddDurationOption(CLI::App& app, const std::string& name,
                               double& seconds, const std::string& help);
CLI::Option* AddDurationOption(CLI::App& app, const std::string& name,
                               std::optional<double>& seconds,
                               const std::string& help);

// What stands for the token on the command line CLI11 parses.
inline constexpr std::string_view kHiddenToken = "<token>";

struct HiddenTokens {
  // argv, with the value of each "--token VALUE" and "--token=VALUE" before
  // the first "--" replaced by kHiddenToken: a value that starts with '-'
  // is a token too (CLI11 would take it for a flag, and quote it).
  std::vector<std::string> args;
  // The values replaced, in order.
  std::vector<std::string> tokens;
};
HiddenTokens HideTokens(int argc, const char* const* argv);

// What to print for CLI11's `error` from `app`: its message, except that
// the arguments CLI11 did not expect are listed with each that is one of
// `secrets` (the tokens, also those given again by mistake as an
// argument) written as kHiddenToken.
std::string UsageMessage(const CLI::ParseError& error, const CLI::App& app,
                         const std::vector<std::string>& secrets);

}  // namespace locktopus::ctl

#endif  // LOCKTOPUS_CLIENT_CTL_COMMAND_LINE_H_
