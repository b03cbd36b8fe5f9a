// The role logic's place in the server (server/core/ha/role.h): runs the HA
// role (core/ha/node.h, with Asio timers and etcd's gateway, etcd/client.h)
// or the standalone role over --state-dir (core/ha/standalone.h) on a
// strand of its own, and keeps the server's state in step with it: the
// gate, the role that /readyz and the upgrades read (written here only),
// and the ID floor of the namespaces.
//
// Thread safety: Make and Start before the io_context runs; Resign and the
// destructor on any one thread before or while it runs; everything else on
// the driver's strand.

#ifndef LOCKTOPUS_SERVER_NET_HA_H_
#define LOCKTOPUS_SERVER_NET_HA_H_

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "server/core/server_state.h"
#include "util/result.h"

namespace locktopus::server {

class RoleDriver {
 public:
  struct Events {
    // HA: leadership lost or unprovable: the server closes every
    // connection (1012) and exits. Called once, on the driver's strand.
    std::function<void(const std::string& why)> fenced;
    // Resign has finished.
    std::function<void(bool clean)> resigned;
  };

  // For a server in HA mode or with --state-dir. `name` is how the
  // candidacy names this server (host:port). Makes the gate, and says the
  // role: standby until Start. Returns the driver, or why it cannot be made
  // (the etcd endpoints: kInvalidArgument; the state dir).
  static Result<std::unique_ptr<RoleDriver>> Make(
      boost::asio::io_context& ioc, std::shared_ptr<ServerState> state,
      std::string name, Events events);
  ~RoleDriver();

  // Campaigns (HA), or starts granting (standalone: before the listener
  // takes a client, so that every namespace starts above the floor).
  void Start();
  // Shutdown, once the drain found no lock live: the gate closes, and the
  // record says clean if still none is (role.h). Events::resigned follows.
  void Resign();

  // --ha-init: writes the cluster's map and missing records (cluster.h)
  // through etcd at `config`'s endpoints, logs what it did; returns the
  // process's exit code.
  static int Init(const Config& config);

 private:
  class Impl;
  explicit RoleDriver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_NET_HA_H_
