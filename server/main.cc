// locktopus: the lock server's entry point.

#include <variant>

#include "server/net/ha.h"
#include "server/net/server.h"
#include "server/options.h"

int main(int argc, char** argv) {
  auto parsed = locktopus::server::ParseOptions(argc, argv);
  if (const int* exit_code = std::get_if<int>(&parsed)) return *exit_code;
  const auto& config = std::get<locktopus::server::Config>(parsed);
  if (config.ha_init) return locktopus::server::RoleDriver::Init(config);
  return locktopus::server::RunServer(config);
}
