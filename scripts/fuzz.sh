#!/usr/bin/env bash
# Sets up, builds the `fuzz` preset and runs libFuzzer harnesses, one after
# the other, each for N seconds on a scratch copy of its seed corpus (the
# committed corpus never grows) with its dictionary and its options
# (fuzz/<name>.options: max_len). Prints one summary line per harness, and
# for a crash the reproducer's path and how to replay it; exits non-zero if
# any harness crashed.
#
#   scripts/fuzz.sh                              every harness, 60 s each
#   scripts/fuzz.sh --seconds 600 session        one harness, longer
#
# Logs and reproducers go to build/fuzz/runs/<time>/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

seconds=60
harnesses=()
while (($#)); do
  case $1 in
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
[[ $seconds =~ ^[0-9]+$ ]] || { echo "fuzz: --seconds wants a whole number" >&2; exit 2; }
((${#harnesses[@]})) || harnesses=(engine_vs_model request_parser http_front_door session)
for name in "${harnesses[@]}"; do
  [ -d "fuzz/corpus/$name" ] || { echo "fuzz: no harness named $name" >&2; exit 2; }
done

scripts/setup.sh
runs="build/fuzz/runs/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$runs"
echo "== fuzz: configure and build"
if ! { cmake --preset fuzz && cmake --build --preset fuzz -- -j"$(nproc)"; } \
  >"$runs/build.log" 2>&1; then
  tail -40 "$runs/build.log"
  echo "== fuzz: build failed; log $runs/build.log"
  exit 1
fi
scratch=$(mktemp -d /tmp/locktopus-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

status=0
summary=()
for name in "${harnesses[@]}"; do
  binary="build/fuzz/bin/${name}_fuzzer"
  log="$runs/$name.log"
  mkdir -p "$scratch/$name"
  cp fuzz/corpus/"$name"/* "$scratch/$name/"
  flags=(-max_total_time="$seconds" -timeout=30 -print_final_stats=1
         -artifact_prefix="$runs/$name-")
  [ -f "fuzz/$name.dict" ] && flags+=(-dict="fuzz/$name.dict")
  max_len=$(sed -nE 's/^max_len *= *([0-9]+).*/\1/p' "fuzz/$name.options" 2>/dev/null || true)
  [ -n "$max_len" ] && flags+=(-max_len="$max_len")

  echo "== fuzz: $name for $seconds s"
  if "$binary" "${flags[@]}" "$scratch/$name" >"$log" 2>&1; then
    # "#1234567 DONE   cov: 805 ft: 2965 corp: 707/56Kb ... exec/s: 43971 ..."
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | tr -s ' \t' ' ' || true)
    summary+=("$name: ok, ${done_line:-no DONE line in $log}")
  else
    status=1
    reproducer=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -1)
    grep -vE '^ +#[0-9]+ 0x|^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|RELOAD)' "$log" |
      tail -40 || true
    summary+=("$name: FAILED, log $log")
    if [ -n "$reproducer" ]; then
      summary+=("  reproducer: $reproducer"
                "  replay:     $binary $reproducer")
    fi
  fi
done

echo "== fuzz: summary ($seconds s each; logs in $runs)"
printf '%s\n' "${summary[@]}"
exit "$status"
