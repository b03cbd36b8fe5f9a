#!/usr/bin/env bash
# An io_uring build sets up its rings with IORING_SETUP_COOP_TASKRUN and
# IORING_SETUP_TASKRUN_FLAG, which Asio does not ask for itself
# (boostlib/boost_impl.cc): every io_uring_setup the server makes carries
# them. Where the kernel refuses them (EINVAL, as before Linux 5.19,
# injected here into the first io_uring_setup with strace), the ring is set
# up without them and the server still starts. Without strace the test is
# skipped (77).
#
#   ring_flags_test.sh LOCKTOPUS
set -uo pipefail

command -v strace >/dev/null 2>&1 || { echo "no strace: skipped"; exit 77; }
server=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() {
  echo "FAIL: $*"
  status=1
}

# Starts the server under strace (extra strace flags given), waits for it to
# listen, stops it; the io_uring_setup calls it made are in $tmp/trace.
run_server() {
  rm -f "$tmp/port" "$tmp/trace"
  strace -f -o "$tmp/trace" -e trace=io_uring_setup "$@" \
    "$server" -H 127.0.0.1 -p 0 --port-file "$tmp/port" 2>"$tmp/log" &
  local pid=$! port=""
  for _ in $(seq 100); do
    read -r port 2>/dev/null <"$tmp/port"
    [[ $port =~ ^[0-9]+$ ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  pkill -TERM -P "$pid"  # the server, strace's child; strace then exits
  wait "$pid"
  [[ $port =~ ^[0-9]+$ ]]
}

run_server || fail "the server did not start: $(cat "$tmp/log")"
setups=$(grep -c 'io_uring_setup(' "$tmp/trace")
cooperative=$(grep -c \
  'io_uring_setup(.*flags=IORING_SETUP_COOP_TASKRUN|IORING_SETUP_TASKRUN_FLAG[,}]' \
  "$tmp/trace")
# One for the start-up check, at least one for the io_context.
if [ "$setups" -lt 2 ] || [ "$cooperative" -ne "$setups" ]; then
  fail "$cooperative of $setups rings set up cooperatively:"
  cat "$tmp/trace"
else
  echo "ok: $setups of $setups rings set up with COOP_TASKRUN|TASKRUN_FLAG"
fi

# The first setup refused with EINVAL: retried at once without the flags.
if ! run_server -e inject=io_uring_setup:error=EINVAL:when=1; then
  fail "with the flags refused once, the server did not start: $(cat "$tmp/log")"
elif ! sed -n 2p "$tmp/trace" | grep -q 'io_uring_setup(.*flags=0[,}]'; then
  fail "with the flags refused, no ring without them:"
  cat "$tmp/trace"
else
  echo "ok: flags refused (EINVAL), the ring set up without them, the server started"
fi
exit "$status"
