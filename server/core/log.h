// One line per event on stderr: UTC timestamp, level, message.
//
// Thread safety: lines from different threads never interleave.

#ifndef LOCKTOPUS_SERVER_CORE_LOG_H_
#define LOCKTOPUS_SERVER_CORE_LOG_H_

#include <string>
#include <string_view>

namespace locktopus::server {

enum class LogLevel { kInfo, kWarning, kError };

void Log(LogLevel level, std::string_view message);
inline void LogInfo(std::string_view message) { Log(LogLevel::kInfo, message); }
inline void LogWarning(std::string_view message) {
  Log(LogLevel::kWarning, message);
}
inline void LogError(std::string_view message) {
  Log(LogLevel::kError, message);
}

// `text` from a client, fit for one log line: every control character
// (line feeds included, so that it cannot forge a line) as \xNN.
std::string LogSafe(std::string_view text);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_CORE_LOG_H_
