#!/usr/bin/env bash
# Seeded bugs prove the checks can fail. Applies each tests/mutants/*.patch to
# a scratch copy of the tree, builds it, runs every verification tool on it,
# and prints which tools caught the bug. Ends with "mutants: K killed of N"
# and exits non-zero unless every mutant is killed.
#
#   scripts/mutants.sh [PATCH...]     (default: every patch in tests/mutants)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"

work=$(mktemp -d /tmp/locktopus-mutants.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
tar -C "$root" --exclude=./build --exclude=./.git --exclude=node_modules \
  -cf - . | tar -C "$work/src" -xf -

# name: command run in the build's bin/ directory; a failing command means
# the tool caught the bug.
tools=(
  'unit: ./space_test --gtest_brief=1; s=$?; ./engine_test --gtest_brief=1 && exit $s'
  'property: ./property_test --gtest_brief=1'
)

build() {
  cmake --build "$work/build" --target space_test engine_test property_test \
    >"$work/build.log" 2>&1
}

# Runs every tool; prints the names of those that failed.
run_tools() {
  local caught=() entry name cmd
  for entry in "${tools[@]}"; do
    name=${entry%%:*}
    cmd=${entry#*: }
    if ! (cd "$work/build/bin" && timeout 600 bash -c "$cmd") \
      >"$work/$name.log" 2>&1; then
      caught+=("$name")
    fi
  done
  echo "${caught[*]}"
}

cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1
build || { cat "$work/build.log"; echo "mutants: the unmutated tree does not build"; exit 2; }
if [ -n "$(run_tools)" ]; then
  cat "$work"/*.log
  echo "mutants: the tools fail on the unmutated tree; fix that first"
  exit 2
fi

patches=("$@")
[ ${#patches[@]} -gt 0 ] || patches=("$root"/tests/mutants/*.patch)
killed=0
total=0
for patch in "${patches[@]}"; do
  name=$(basename "$patch" .patch)
  total=$((total + 1))
  started=$SECONDS
  if ! patch -d "$work/src" -p1 --quiet --forward <"$patch" >/dev/null; then
    echo "mutant $name: ERROR, patch does not apply"
    continue
  fi
  if ! build; then
    echo "mutant $name: ERROR, does not build"
    tail -20 "$work/build.log"
  else
    caught=$(run_tools)
    if [ -n "$caught" ]; then
      killed=$((killed + 1))
      echo "mutant $name: killed by ${caught// /, } ($((SECONDS - started)) s)"
    else
      echo "mutant $name: SURVIVED ($(head -1 "$patch"))"
    fi
  fi
  patch -d "$work/src" -p1 --quiet --reverse <"$patch" >/dev/null
done

echo "mutants: $killed killed of $total"
[ "$killed" -eq "$total" ]
