#include "server/net/port_file.h"

#include <filesystem>
#include <fstream>
#include <system_error>

namespace locktopus::server {

bool WritePortFile(const std::string& path, std::uint16_t port) {
  const std::string scratch = path + ".tmp";
  {
    std::ofstream out(scratch, std::ios::trunc);
    out << port << '\n';
    if (!out.flush()) return false;
  }
  std::error_code ec;
  std::filesystem::rename(scratch, path, ec);
  return !ec;
}

}  // namespace locktopus::server
