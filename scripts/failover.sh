#!/usr/bin/env bash
# Failover test: an HA cluster on loopback (3 etcd members, 2 groups of 2
# servers under supervisors, HAProxy in front) under ~100 clients, one fault
# per round: kill -9 of an active, SIGSTOP of an active past the grace, an
# active cut off from etcd, kill -9 of etcd's leader, a clean switchover,
# kill -9 of one group's active while the other group runs. Checks that no
# two clients ever held conflicting locks at once (a client that lost its
# connection "uses" its lock for its abandon timeout), that fencing tokens
# never go back, and the recovery bounds of each fault. The driver is
# tests/failover/failover.mjs.
#
#   scripts/failover.sh [--rounds N] [--preset release|asan|tsan] [--bin PATH] [driver options]
#
# The last line is
#   failover: rounds R, faults F, violations V, id-regressions I, max-unavailable-ms M; ...
# and the exit status is 0 only if every check held.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

preset=release
bin=""
args=()
while (($#)); do
  case "$1" in
    --preset) preset=$2; shift 2 ;;
    --preset=*) preset=${1#*=}; shift ;;
    --bin) bin=$2; shift 2 ;;
    --bin=*) bin=${1#*=}; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done

scripts/setup.sh
if [ -z "$bin" ]; then
  case "$preset" in release|asan|tsan) ;; *) echo "failover: unknown preset $preset" >&2; exit 2 ;; esac
  cmake --preset "$preset" >/dev/null
  if ! out=$(cmake --build --preset "$preset" --target locktopus 2>&1); then
    echo "$out" | tail -40
    echo "failover: build failed" >&2
    exit 1
  fi
  bin="$root/build/$preset/bin/locktopus"
fi
[ -x "$bin" ] || { echo "failover: no server binary at $bin" >&2; exit 2; }
exec node "$root/tests/failover/failover.mjs" --bin "$bin" "${args[@]}"
