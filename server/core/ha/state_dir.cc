#include "server/core/ha/state_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace locktopus::server::ha {
namespace {

std::string Errno() { return std::strerror(errno); }

Error Io(std::string message) { return {Error::Code::kIo, std::move(message)}; }

// Writes `text` to `path` whole and durably: a scratch file, fsync'd, then
// renamed over `path`, then the directory fsync'd so the rename survives.
Status WriteDurably(const std::string& dir, const std::string& path,
                    const std::string& text) {
  const std::string scratch = path + ".tmp";
  const int fd = ::open(scratch.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return Io("cannot write [" + scratch + "]: " + Errno());
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = Errno();
      ::close(fd);
      return Io("cannot write [" + scratch + "]: " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return Io("cannot sync [" + scratch + "]: " + Errno());
  }
  if (::rename(scratch.c_str(), path.c_str()) != 0) {
    return Io("cannot rename [" + scratch + "] to [" + path + "]: " + Errno());
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
    if (dir_fd >= 0) ::close(dir_fd);
    return Io("cannot sync the directory [" + dir + "]: " + Errno());
  }
  ::close(dir_fd);
  return Status();
}

}  // namespace

Result<std::unique_ptr<StateDir>> StateDir::Open(
    const std::string& dir, std::chrono::milliseconds max_abandon,
    LockId block) {
  std::unique_ptr<StateDir> state(new StateDir(dir, block));
  // One server per directory: a second one would issue the same IDs. The
  // lock goes with the StateDir, or the process.
  const std::string lock_path = dir + "/lock";
  state->lock_fd_ =
      ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (state->lock_fd_ < 0) {
    return Io("cannot open [" + lock_path + "]: " + Errno());
  }
  if (::flock(state->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      return Io("cannot lock [" + lock_path + "]: " + Errno());
    }
    return Error{Error::Code::kRejected, "another server uses the state dir [" +
                                             dir + "] (it holds [" + lock_path +
                                             "])"};
  }
  std::optional<Record> last;
  {
    std::ifstream in(state->Path(), std::ios::binary);
    if (in) {
      std::ostringstream text;
      text << in.rdbuf();
      last = Decode(text.str());
      if (!last) {
        return Error{
            Error::Code::kInvalidArgument,
            "the record [" + state->Path() + "] cannot be read: " + text.str()};
      }
    } else if (errno != ENOENT) {
      return Io("cannot read [" + state->Path() + "]: " + Errno());
    }
  }
  const auto abandon =
      std::max<std::uint64_t>(max_abandon.count(), last ? last->abandon_ms : 0);
  state->floor_ = last ? last->ceiling : 0;
  if (last && !last->clean) {
    state->grace_ = std::chrono::milliseconds(abandon) + kMargin;
  }
  state->record_ = {.ceiling = state->floor_ + block,
                    .clean = false,
                    .epoch = 0,
                    .window_ms = 0,
                    .abandon_ms = abandon};
  if (Status written = state->Write(state->record_); !written.ok()) {
    return written.error();
  }
  return state;
}

StateDir::~StateDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status StateDir::Raise() {
  Record next = record_;
  next.ceiling += block_;
  if (Status written = Write(next); !written.ok()) return written;
  record_ = next;
  return Status();
}

Status StateDir::MarkClean() {
  Record clean = record_;
  clean.clean = true;
  return Write(clean);
}

Status StateDir::Write(const Record& record) {
  return WriteDurably(dir_, Path(), Encode(record) + "\n");
}

}  // namespace locktopus::server::ha
