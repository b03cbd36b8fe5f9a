#!/usr/bin/env bash
# Sets up, configures, builds and runs every test through CTest, under each
# preset in turn: release, then the asan and tsan sanitizer builds. Then the
# fuzz harnesses, built the way OSS-Fuzz builds them, run for a while each
# (scripts/fuzz.sh), and last comes the clang-format check of the tree
# (scripts/lint.sh --format-only).
# The next build (a preset, or the fuzz harnesses) runs at the lowest CPU
# priority while the preset before it is tested. Prints each stage's elapsed
# time, CTest's summary per preset and a total line at the end.
#
#   scripts/test.sh                              everything
#   LOCKTOPUS_PRESETS="release" scripts/test.sh  one preset, no fuzzing
#   LOCKTOPUS_FUZZ_SECONDS=300 scripts/test.sh   longer fuzzing
#   RC_PARAMS="max_success=100000" scripts/test.sh   longer property runs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh

read -r -a presets <<<"${LOCKTOPUS_PRESETS:-release asan tsan fuzz}"
jobs=$(nproc)
passed=0
failed=0
logs=$(mktemp -d)

# Each stage's elapsed time, printed as it ends.
started=$SECONDS
since() { echo "($((SECONDS - $1)) s)"; }

# A preset's build runs in the background and leaves its status and elapsed
# time in $logs. While one preset's tests run (mostly waiting on sockets and
# timers), the next preset builds beside them at the lowest CPU priority, so
# that the tests keep the CPU they ask for and the build takes the rest.
start_build() {
  local preset=$1 priority=$2
  (
    at=$SECONDS
    status=0
    if [ "$preset" = fuzz ]; then
      nice -n "$priority" scripts/fuzz.sh --build-only
    else
      cmake --preset "$preset" && nice -n "$priority" cmake --build --preset "$preset" -- -j"$jobs"
    fi >"$logs/build-$preset.log" 2>&1 || status=$?
    echo "$((SECONDS - at))" >"$logs/built-$preset"
    exit "$status"
  ) &
  builder=$!
}
builder=

# On the way out (a failed build, ^C), background work goes too.
kill_tree() {
  local child
  for child in $(pgrep -P "$1" || true); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
trap '[ -z "$builder" ] || kill_tree "$builder"; rm -rf "$logs"' EXIT

echo "== ${presets[0]}: configure and build"
start_build "${presets[0]}" 0
for i in "${!presets[@]}"; do
  preset=${presets[$i]}
  if ! wait "$builder"; then
    builder=
    grep -E "error|FAILED" -A5 "$logs/build-$preset.log" | head -60 || tail -40 "$logs/build-$preset.log"
    echo "== $preset: build failed"
    exit 1
  fi
  builder=
  echo "== $preset: built ($(cat "$logs/built-$preset") s)"
  next=${presets[$((i + 1))]:-}
  if [ -n "$next" ]; then
    echo "== $next: configure and build, beside $preset's tests"
    start_build "$next" 19
  fi
  # The fuzz harnesses have no CTest run of their own: scripts/fuzz.sh runs
  # every seed, then fuzzes (below). Their seeds also run under CTest in
  # every other preset but tsan (fuzz_<harness>_corpus).
  [ "$preset" != fuzz ] || continue

  at=$SECONDS
  echo "== $preset: test"
  ctest --preset "$preset" -j"$jobs" --timeout 1500 --output-on-failure >"$logs/test-$preset.log" 2>&1 || true
  grep -Ev '^ *(Start|[0-9]+/[0-9]+ Test) ' "$logs/test-$preset.log" || true
  # "100% tests passed, 0 tests failed out of 40"
  line=$(grep -E 'tests? failed out of [0-9]+' "$logs/test-$preset.log" || true)
  if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    failed=$((failed + BASH_REMATCH[1]))
    passed=$((passed + BASH_REMATCH[2] - BASH_REMATCH[1]))
  else
    echo "== $preset: CTest did not report a summary"
    failed=$((failed + 1))
  fi
  echo "== $preset: tested $(since "$at")"
done

# Stages beyond CTest count as one test each.
stage() {
  local at=$SECONDS
  echo "== $1"
  if "${@:2}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  echo "== done $(since "$at")"
}
if [[ " ${presets[*]} " == *" fuzz "* ]]; then
  stage "fuzz: every harness, as OSS-Fuzz builds it, for ${LOCKTOPUS_FUZZ_SECONDS:-30} s" \
    scripts/fuzz.sh --seconds "${LOCKTOPUS_FUZZ_SECONDS:-30}"
fi

stage "lint: clang-format over the tree" scripts/lint.sh --format-only

echo "presets ${presets[*]}: $(since "$started")"
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
