// --state-dir DIR: a standalone server's durable record (record.h), so that
// its fencing tokens never go back across restarts. DIR/record holds the
// ID ceiling and whether the last run stopped cleanly.
//
// At start: the floor is the recorded ceiling; the next record, {ceiling:
// floor + block, clean: false}, is written and made durable (fsync of the
// file, rename, fsync of the directory) before any ID is issued. If the last
// run did not stop cleanly (a crash, kill -9, a second signal), its clients
// may still be at work: the server grants nothing for a grace of its
// longest abandon timeout plus a margin, as after a failover. Before IDs of
// a new block are announced, the ceiling is raised the same way; a clean
// stop (no lock live) writes {clean: true}.
//
// One server per directory: DIR/lock is held (flock) from Open to the
// process's end (the StateDir's), and a second server refuses to start.
//
// Thread safety: not thread-safe; the server calls it from one strand.

#ifndef LOCKTOPUS_SERVER_CORE_HA_STATE_DIR_H_
#define LOCKTOPUS_SERVER_CORE_HA_STATE_DIR_H_

#include <chrono>
#include <memory>
#include <string>

#include "server/core/ha/gate.h"
#include "server/core/ha/record.h"
#include "util/result.h"

namespace locktopus::server::ha {

class StateDir {
 public:
  // The grace after an unclean stop: its abandon timeout plus this.
  static constexpr std::chrono::seconds kMargin{1};

  // Reads DIR/record (none: a first start, floor 0), and writes the next
  // record durably. Returns the state, or what went wrong, naming the file:
  // kIo, kInvalidArgument for a record that cannot be read, kRejected when
  // another server holds DIR/lock.
  static Result<std::unique_ptr<StateDir>> Open(
      const std::string& dir, std::chrono::milliseconds max_abandon,
      LockId block);

  // Lets go of DIR/lock.
  ~StateDir();
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;

  // IDs start above it.
  LockId floor() const { return floor_; }
  // No ID above it may be announced.
  LockId ceiling() const { return record_.ceiling; }
  // How long nothing is granted after the start: zero after a clean stop.
  std::chrono::milliseconds grace() const { return grace_; }
  LockId block() const { return block_; }

  // Raises the ceiling by a block, durably; an error (kIo) names the file.
  Status Raise();
  // A clean stop, with no lock live: the next start skips the grace.
  Status MarkClean();

 private:
  StateDir(std::string dir, LockId block)
      : dir_(std::move(dir)), block_(block) {}
  // Holds DIR/lock (flock) for as long as this lives, which in the server
  // is as long as the process runs.
  int lock_fd_ = -1;
  Status Write(const Record& record);
  std::string Path() const { return dir_ + "/record"; }

  const std::string dir_;
  const LockId block_;
  Record record_;
  LockId floor_ = 0;
  std::chrono::milliseconds grace_{0};
};

}  // namespace locktopus::server::ha

#endif  // LOCKTOPUS_SERVER_CORE_HA_STATE_DIR_H_
