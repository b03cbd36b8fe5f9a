// HA mode's place in the server: runs the role logic (server/core/ha/node.h)
// on a strand of its own, with Asio timers and etcd's gateway
// (etcd/client.h), and keeps the server's state in step with it: the role
// that /readyz and the upgrades read, the ID floor of the namespaces, and
// the gate's ceiling.
//
// Thread safety: Start, Resign and the destructor on any one thread before
// or while the io_context runs; everything else on the driver's strand.

#ifndef LOCKTOPUS_SERVER_NET_HA_H_
#define LOCKTOPUS_SERVER_NET_HA_H_

#include <functional>
#include <memory>
#include <string>

#include "server/core/server_state.h"
#include "server/net/streams.h"
#include "util/result.h"

namespace locktopus::server {

class HaDriver {
 public:
  struct Events {
    // Leadership lost or unprovable: the server closes every connection
    // (1012) and exits. Called once, on the driver's strand.
    std::function<void(const std::string& why)> fenced;
    // Resign has finished.
    std::function<void(bool clean)> resigned;
  };

  // `name` is how the candidacy names this server (host:port). Returns the
  // driver, or why the configuration is wrong (the etcd endpoints:
  // kInvalidArgument).
  static Result<std::unique_ptr<HaDriver>> Make(
      net::io_context& ioc, std::shared_ptr<ServerState> state,
      std::string name, Events events);
  ~HaDriver();

  void Start();
  // Shutdown, once the drain found no lock live: the gate closes, and the
  // record says clean if still none is (node.h).
  void Resign();

  // --ha-init: writes the cluster's map and missing records (cluster.h)
  // through etcd at `config`'s endpoints, logs what it did; returns the
  // process's exit code.
  static int Init(const Config& config);

 private:
  class Impl;
  explicit HaDriver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace locktopus::server

#endif  // LOCKTOPUS_SERVER_NET_HA_H_
