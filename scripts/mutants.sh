#!/usr/bin/env bash
# Seeded bugs prove the checks can fail. Applies each tests/mutants/*.patch to
# a scratch copy of the tree, builds it, runs the verification tools on it
# (the quickest first) until one catches the bug, and prints which. Ends with
# "mutants: K killed of N" and exits non-zero unless every mutant is killed.
#
#   scripts/mutants.sh [--all-tools] [PATCH...]   (default: every patch)
#
# --all-tools runs every tool on every mutant and lists all that caught it.
#
# The scratch builds do not treat warnings as errors, so that clang's
# thread-safety analysis reports a mutant like any other tool.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"

work=$(mktemp -d /tmp/locktopus-mutants.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
tar -C "$root" --exclude=./build --exclude=./.git --exclude=./tests/node_modules \
  -cf - . | tar -C "$work/src" -xf -

# Builds of the scratch tree: name, CMake arguments, targets.
declare -A build_args=(
  [release]="-DCMAKE_BUILD_TYPE=Release"
  [tsan]="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOCKTOPUS_SANITIZE=thread"
  [fuzz]="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOCKTOPUS_SANITIZE=address,undefined -DLOCKTOPUS_FUZZ=ON"
)
declare -A build_targets=(
  [release]="space_test engine_test property_test server_test locktopus-ha-simulate"
  [tsan]="locktopus-simulate"
  [fuzz]="engine_vs_model_fuzzer session_fuzzer"
)

# Tools: "name|build|command", the command run in that build's bin/. A
# failing command means the tool caught the bug. $log is this mutant's
# build output, $src the scratch tree.
tools=(
  'analysis|release|! grep -q "\[-Wthread-safety" "$log"'
  'unit|release|s=0; for t in space_test engine_test server_test; do ./$t --gtest_brief=1 || s=1; done; exit $s'
  'property|release|./property_test --gtest_brief=1'
  'ha-simulator|release|./locktopus-ha-simulate --seconds 20'
  'simulator|tsan|TSAN_OPTIONS=halt_on_error=1 ./locktopus-simulate --seconds 20 --stall-seconds 5 --heartbeat 600'
  'fuzz|fuzz|s=0; for h in engine_vs_model session; do d=$(mktemp -d); cp -r "$src/fuzz/corpus/$h/." "$d"; ./${h}_fuzzer -max_total_time=20 -max_len=512 "$d" || s=1; rm -rf "$d"; done; exit $s'
)
all_tools=false
if [ "${1:-}" = --all-tools ]; then
  all_tools=true
  shift
fi

# Builds every build; its output goes to $work/build.log.
build() {
  : >"$work/build.log"
  for b in "${!build_args[@]}"; do
    # shellcheck disable=SC2086
    cmake --build "$work/build-$b" --target ${build_targets[$b]} \
      >>"$work/build.log" 2>&1 || return 1
  done
}

# Runs the tools, in order; prints the names of those that failed. Stops at
# the first that fails, unless asked for all ($1 = all).
run_tools() {
  local caught=() entry name b cmd
  for entry in "${tools[@]}"; do
    IFS='|' read -r name b cmd <<<"$entry"
    if ! (cd "$work/build-$b/bin" && log="$work/build.log" src="$work/src" \
      timeout 600 bash -c "$cmd") >"$work/$name.log" 2>&1; then
      caught+=("$name")
      [ "${1:-}" = all ] || break
    fi
  done
  echo "${caught[*]}"
}

for b in "${!build_args[@]}"; do
  # shellcheck disable=SC2086
  cmake -S "$work/src" -B "$work/build-$b" -G Ninja \
    -DCMAKE_CXX_COMPILER=clang++ -DLOCKTOPUS_WERROR=OFF ${build_args[$b]} \
    >"$work/configure-$b.log" 2>&1
done
build || { cat "$work/build.log"; echo "mutants: the unmutated tree does not build"; exit 2; }
baseline=$(run_tools all)
if [ -n "$baseline" ]; then
  for t in $baseline; do cat "$work/$t.log"; done
  echo "mutants: $baseline fail on the unmutated tree; fix that first"
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
    if $all_tools; then caught=$(run_tools all); else caught=$(run_tools); fi
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
