#ifndef LOCKTOPUS_SERVER_NET_PORT_FILE_H_
#define LOCKTOPUS_SERVER_NET_PORT_FILE_H_

#include <cstdint>
#include <string>

namespace locktopus::server {

// Writes `port` to `path` whole, or not at all: a reader that finds the
// file finds the port (written to a scratch file, then renamed). The
// server's --port-file, and the benchmark's floor server's. Returns whether
// it did.
bool WritePortFile(const std::string& path, std::uint16_t port);

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_NET_PORT_FILE_H_
