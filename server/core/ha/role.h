// A server's role in its HA group (node.h). A server that is not in HA
// mode is always serving.

#ifndef LOCKTOPUS_SERVER_CORE_HA_ROLE_H_
#define LOCKTOPUS_SERVER_CORE_HA_ROLE_H_

#include <string_view>

namespace locktopus::server::ha {

enum class Role { kStandby, kGrace, kServing, kFenced, kResigned };

std::string_view Name(Role role);

// Grace and serving take clients; the others refuse them.
inline bool TakesClients(Role role) {
  return role == Role::kGrace || role == Role::kServing;
}

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_ROLE_H_
