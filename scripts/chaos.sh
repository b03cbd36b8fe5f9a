#!/usr/bin/env bash
# Chaos test: the server under hundreds of clients that lock and release
# random resources across a few namespaces while faults fire (resets, closes
# mid-wait, garbage and oversized frames, clients that stop reading,
# SIGSTOP/SIGCONT of client processes, abandon timeouts of 0 ms to seconds,
# and blips: session clients' connections cut in a TCP relay and resumed).
# Checks that no two conflicting locks were ever held at once, that no
# session resumed within its window lost its lock, that nothing
# leaks once the clients are gone, that the server's RSS comes back near its
# baseline and that the server never fails. The driver is tests/chaos/.
#
#   scripts/chaos.sh [--seconds N] [--preset release|asan|tsan] [--bin PATH] [driver options]
#
# --preset builds that preset's server (default release); --bin runs the
# given binary as it is. Any other option goes to tests/chaos/chaos.mjs
# (`node tests/chaos/chaos.mjs --help`). The last line is
#   chaos: ops N, faults F, violations V, lost L, leaks K; ...
# and the exit status is 0 only if V, L and K are 0 and every other check
# held. --blip-rate 0 runs no session clients (a server without sessions).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

seconds=60
parse_args seconds -- "$@"
server_binary

# Sanitizer builds run many times slower and hold memory on purpose: stretch
# the waits that must succeed and widen the RSS margin.
sanitizer=$(server_sanitizer)
case "$sanitizer" in
  thread) args=(--timeout-scale 10 "${args[@]}") ;;
  address) args=(--timeout-scale 5 "${args[@]}") ;;
esac
[ -n "$sanitizer" ] && args=(--sanitizer "$sanitizer" "${args[@]}")

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec node "$root/tests/chaos/chaos.mjs" --bin "$bin" --seconds "$seconds" "${args[@]}"
