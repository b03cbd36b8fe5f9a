#!/usr/bin/env bash
# The multithreaded bug finder under ThreadSanitizer: builds the tsan preset
# and runs rounds of the simulator until the first bug (or --seconds N).
# Silent while healthy but for a heartbeat line a minute on stderr. On a bug
# it prints the report and the seed to replay, and exits non-zero.
#
#   scripts/bug_finder.sh [--seconds N] [simulator flags...]
#   build/tsan/bin/locktopus-simulate --replay SEED    replays one round
#   scripts/bug_finder.sh --ha [--seconds N] [...]     the HA role simulation
#   build/tsan/bin/locktopus-ha-simulate --replay SEED (every event printed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
seconds=0
target=locktopus-simulate
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ha) target=locktopus-ha-simulate; shift ;;
    --seconds) seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
cmake --preset tsan >/dev/null
cmake --build --preset tsan --target "$target" >/dev/null
# A data race stops the run at once, like any other bug.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
exec "build/tsan/bin/$target" --seconds "$seconds" "${args[@]}"
