#!/usr/bin/env bash
# Chaos test: the server under hundreds of clients that lock and release
# random resources across a few namespaces while faults fire (resets, closes
# mid-wait, garbage and oversized frames, clients that stop reading,
# SIGSTOP/SIGCONT of client processes, abandon timeouts of 0 ms to seconds).
# Checks that no two conflicting locks were ever held at once, that nothing
# leaks once the clients are gone, that the server's RSS comes back near its
# baseline and that the server never fails. The driver is tests/chaos/.
#
#   scripts/chaos.sh [--seconds N] [--preset release|asan|tsan] [--bin PATH] [driver options]
#
# --preset builds that preset's server (default release); --bin runs the
# given binary as it is. Any other option goes to tests/chaos/chaos.mjs
# (`node tests/chaos/chaos.mjs --help`). The last line is
#   chaos: ops N, faults F, violations V, leaks L; ...
# and the exit status is 0 only if V and L are 0 and every other check held.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

preset=release
bin=""
seconds=60
args=()
while (($#)); do
  case "$1" in
    --preset) preset=$2; shift 2 ;;
    --preset=*) preset=${1#*=}; shift ;;
    --bin) bin=$2; shift 2 ;;
    --bin=*) bin=${1#*=}; shift ;;
    --seconds) seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done

if [ -z "$bin" ]; then
  case "$preset" in release|asan|tsan) ;; *) echo "chaos: unknown preset $preset" >&2; exit 2 ;; esac
  scripts/setup.sh
  cmake --preset "$preset" >/dev/null
  if ! out=$(cmake --build --preset "$preset" --target locktopus 2>&1); then
    echo "$out" | tail -40
    echo "chaos: build failed" >&2
    exit 1
  fi
  bin="$root/build/$preset/bin/locktopus"
fi
[ -x "$bin" ] || { echo "chaos: no server binary at $bin" >&2; exit 2; }

# Sanitizer builds run many times slower and hold memory on purpose: stretch
# the waits that must succeed and widen the RSS margin.
sanitizer=""
if grep -aq __tsan_init "$bin"; then
  sanitizer=thread
  args=(--timeout-scale 10 "${args[@]}")
elif grep -aq __asan_init "$bin"; then
  sanitizer=address
  args=(--timeout-scale 5 "${args[@]}")
fi
[ -n "$sanitizer" ] && args=(--sanitizer "$sanitizer" "${args[@]}")

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec node "$root/tests/chaos/chaos.mjs" --bin "$bin" --seconds "$seconds" "${args[@]}"
