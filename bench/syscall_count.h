// Counts another process's system calls over a stretch of time, with
// `perf stat -e raw_syscalls:sys_enter -p PID`: one counter on the kernel's
// syscall-entry tracepoint, started and stopped through perf's control FIFO
// so that only the stretch between Enable and Disable is counted.
//
// Not free for the counted process: each of its system calls then costs
// roughly 0.1–0.2 µs more, so the load generator counts in a window of its
// own, after the one in which it measures CPU time. (strace would cost
// several µs per call and change what it measures.) Needs `perf` on PATH and
// the right to trace another process: root, or kernel.perf_event_paranoid
// at -1.
//
// Thread safety: one thread at a time.

#ifndef LOCKTOPUS_BENCH_SYSCALL_COUNT_H_
#define LOCKTOPUS_BENCH_SYSCALL_COUNT_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace locktopus::bench {

class SyscallCount {
 public:
  // Starts perf on `pid`, counting nothing yet; nullptr, with the reason in
  // `why`, if perf cannot be started or cannot trace the process.
  static std::unique_ptr<SyscallCount> Attach(int pid, std::string& why);

  ~SyscallCount();  // stops perf if still running
  SyscallCount(const SyscallCount&) = delete;
  SyscallCount& operator=(const SyscallCount&) = delete;

  // Counting starts (Enable) and stops (Disable) when each returns true;
  // false, with the reason in `why`, if perf did not confirm.
  bool Enable(std::string& why);
  bool Disable(std::string& why);

  // Stops perf; the system calls counted while enabled, or nullopt with the
  // reason in `why`.
  std::optional<std::uint64_t> Finish(std::string& why);

 private:
  SyscallCount() = default;
  bool Command(const char* command, std::string& why);
  void Kill();

  std::string dir_;  // holds the FIFOs and perf's output
  pid_t perf_ = -1;
  int control_ = -1;  // perf reads commands here
  int ack_ = -1;      // and answers here
};

}  // namespace locktopus::bench

#endif  // LOCKTOPUS_BENCH_SYSCALL_COUNT_H_
