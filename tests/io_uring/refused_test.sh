#!/usr/bin/env bash
# An io_uring build (LOCKTOPUS_IO_URING=ON) where the kernel refuses
# io_uring: each program says so at start, naming the option, and exits 1
# before doing anything else. The refusal is made with strace's fault
# injection (io_uring_setup fails with EPERM, as under a seccomp profile
# or kernel.io_uring_disabled, and with ENOSYS, as on a kernel without
# it); without strace the test is skipped (77).
#
#   refused_test.sh PROGRAM...
set -uo pipefail

command -v strace >/dev/null 2>&1 || { echo "no strace: skipped"; exit 77; }
status=0
for program in "$@"; do
  for error in EPERM ENOSYS; do
    out=$(strace -f -o /dev/null -e trace=io_uring_setup \
      -e inject=io_uring_setup:error=$error "$program" --help 2>&1)
    code=$?
    name=$(basename "$program")
    if [ "$code" -ne 1 ]; then
      echo "FAIL: $name with io_uring_setup failing ($error) exited $code, not 1"
      status=1
    elif ! grep -q "^$name: cannot start: .*io_uring.*LOCKTOPUS_IO_URING" <<<"$out"; then
      echo "FAIL: $name with io_uring_setup failing ($error) said: $out"
      status=1
    elif grep -q "^Usage" <<<"$out"; then
      echo "FAIL: $name went on to print its usage: $out"
      status=1
    else
      echo "ok: $name ($error): $out"
    fi
  done
done
exit "$status"
