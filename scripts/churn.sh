#!/usr/bin/env bash
# Namespace churn: many distinct namespaces, each used once by one
# connection and left idle, against one server; then checks that they gave
# everything back (RSS within a bound of its baseline, per namespace and in
# all; none left open; /stats_v1 of one answers 404; the status page small;
# IDs of a namespace opened again continue above its last). The driver is
# tests/churn/churn.mjs.
#
#   scripts/churn.sh [--namespaces N] [--preset release|asan|tsan] [--bin PATH] [driver options]
#   scripts/churn.sh --namespaces 1000000     # the million: RSS within 16 MiB
#
# --preset builds that preset's server (default release); --bin runs the
# given binary as it is. Under a sanitizer build the RSS is not checked.
# The last line is `churn: namespaces N, ...; ok` (or FAIL), and the exit
# status says the same.
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
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done

if [ -z "$bin" ]; then
  case "$preset" in release|asan|tsan) ;; *) echo "churn: unknown preset $preset" >&2; exit 2 ;; esac
  scripts/setup.sh
  cmake --preset "$preset" >/dev/null
  if ! out=$(cmake --build --preset "$preset" --target locktopus 2>&1); then
    echo "$out" | tail -40
    echo "churn: build failed" >&2
    exit 1
  fi
  bin="$root/build/$preset/bin/locktopus"
fi
[ -x "$bin" ] || { echo "churn: no server binary at $bin" >&2; exit 2; }

# Sanitizer allocators keep freed memory on purpose: RSS means nothing there.
if grep -aqE '__tsan_init|__asan_init' "$bin"; then args=(--no-rss "${args[@]}"); fi
exec node "$root/tests/churn/churn.mjs" --bin "$bin" "${args[@]}"
