// The server's command line and environment (LOCKTOPUS_*), parsed by CLI11
// into a Config. A flag overrides its environment variable, which overrides
// the default. Part of the executable only.

#ifndef LOCKTOPUS_SERVER_OPTIONS_H_
#define LOCKTOPUS_SERVER_OPTIONS_H_

#include <cstdint>
#include <variant>

#include "server/core/config.h"

namespace locktopus::server {

// The default --max-lock-memory: a quarter of the machine's memory, or of
// its cgroup's limit if lower, at most 1 GiB.
std::uint64_t DefaultLockMemory();

// Parses the command line. Returns the settings, or the exit code after
// printing help (0) or what was wrong (2) itself.
std::variant<Config, int> ParseOptions(int argc, const char* const* argv);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_OPTIONS_H_
