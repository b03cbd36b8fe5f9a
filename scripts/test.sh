#!/usr/bin/env bash
# Sets up, configures, builds and runs every test through CTest, under each
# preset in turn (release, then the asan and tsan sanitizer builds), prints
# CTest's summary for each and a total line at the end.
#
#   scripts/test.sh                      every preset
#   LOCKTOPUS_PRESETS="release" scripts/test.sh
#   RC_PARAMS="max_success=100000" scripts/test.sh   longer property runs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh

read -r -a presets <<<"${LOCKTOPUS_PRESETS:-release asan tsan}"
jobs=$(nproc)
passed=0
failed=0
status=0
for preset in "${presets[@]}"; do
  echo "== $preset: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -- -j"$jobs" | grep -Ev '^\[[0-9]+/[0-9]+\] ' || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "== $preset: build failed"; exit 1; }

  echo "== $preset: test"
  log=$(mktemp)
  if ! ctest --preset "$preset" -j"$jobs" --timeout 1500 | tee "$log" |
    grep -Ev '^ *(Start|[0-9]+/[0-9]+ Test) '; then
    status=1
  fi
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  # "100% tests passed, 0 tests failed out of 40"
  if read -r ok bad < <(sed -nE 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2 \1/p' "$log" |
    awk '{print $1 - $2, $2}'); then
    passed=$((passed + ok))
    failed=$((failed + bad))
  else
    status=1
  fi
  rm -f "$log"
done

echo "presets ${presets[*]}:"
echo "total: $passed passed, $failed failed"
exit "$status"
