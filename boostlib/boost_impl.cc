// The compiled parts of Asio, Beast, JSON and URL, built once for the whole
// tree (BOOST_*_SEPARATE_COMPILATION): every other file includes only their
// declarations. Asio's SSL layer is compiled apart (boost_ssl_impl.cc), so
// that the programs without TLS (the load generator, most tests) do not
// link OpenSSL.

#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>

#if defined(LOCKTOPUS_IO_URING)
// Built with LOCKTOPUS_IO_URING, Asio does all its I/O through io_uring and
// has no fallback: where the kernel refuses io_uring (a kernel without it,
// kernel.io_uring_disabled, a container's seccomp profile), the first
// io_context would throw. Every program linking this library checks at
// start instead, says why it cannot run, and exits with code 1.
#include <liburing.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// Asio 1.81 sets up its ring with no flags (io_uring_service::init_ring).
// The kernel then signals every completion's task work at once, with an
// interrupt to the I/O thread if it runs: that thread stops to receive on a
// socket whose lock the sending CPU still holds, and spins for it. With
// IORING_SETUP_COOP_TASKRUN the task work waits for the thread's next
// entry into the kernel (its next io_uring_enter, where Asio waits anyway),
// and TASKRUN_FLAG tells liburing when there is some. Asio offers no way to
// pass flags, so the linker routes its call here
// (-Wl,--wrap=io_uring_queue_init, CMakeLists.txt). A kernel older than
// 5.19 refuses the flags (EINVAL) and gets the ring Asio asked for.
extern "C" int __real_io_uring_queue_init(unsigned entries, io_uring* ring,
                                          unsigned flags);
extern "C" int __wrap_io_uring_queue_init(unsigned entries, io_uring* ring,
                                          unsigned flags) {
  const unsigned cooperative =
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  const int error =
      __real_io_uring_queue_init(entries, ring, flags | cooperative);
  if (error != -EINVAL) return error;
  return __real_io_uring_queue_init(entries, ring, flags);
}

namespace {

struct IoUringCheck {
  IoUringCheck() {
    io_uring ring;
    const int error = io_uring_queue_init(4, &ring, 0);
    if (error == 0) {
      io_uring_queue_exit(&ring);
      return;
    }
    std::fprintf(stderr,
                 "%s: cannot start: this build does its I/O through io_uring "
                 "(LOCKTOPUS_IO_URING=ON) and the kernel refuses io_uring "
                 "(io_uring_setup: %s); run a build without "
                 "LOCKTOPUS_IO_URING here\n",
                 program_invocation_short_name, std::strerror(-error));
    std::exit(1);
  }
};
const IoUringCheck io_uring_check;

}  // namespace
#endif  // LOCKTOPUS_IO_URING
