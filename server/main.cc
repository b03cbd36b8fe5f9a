// locktopus: the lock server's entry point.

#include <variant>

#include "server/net/server.h"
#include "server/options.h"

int main(int argc, char** argv) {
  auto parsed = locktopus::server::ParseOptions(argc, argv);
  if (const int* exit_code = std::get_if<int>(&parsed)) return *exit_code;
  return locktopus::server::RunServer(
      std::get<locktopus::server::Config>(parsed));
}
