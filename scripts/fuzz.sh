#!/usr/bin/env bash
# Builds the libFuzzer harnesses the way OSS-Fuzz does (fuzz/oss-fuzz/build.sh,
# with clang, libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer at
# OSS-Fuzz's -O1) into build/fuzz/out/, then runs them, as many at once as
# there are cores, each for N seconds on a scratch copy of the seed corpus
# build.sh packed beside it, with the dictionary and options (max_len) it
# copied there: what is fuzzed here is what OSS-Fuzz would get. Every seed
# runs first, so a harness that fails on its corpus fails here. Prints one
# summary line per harness, and for a crash the reproducer's path and how to
# replay it; exits non-zero if the build failed or any harness crashed.
#
#   scripts/fuzz.sh                              every harness, 60 s each
#   scripts/fuzz.sh --seconds 600 session        one harness, longer
#   scripts/fuzz.sh --build-only                 build them, run nothing
#
# Logs and reproducers go to build/fuzz/runs/<time>/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

seconds=60
build_only=0
harnesses=()
while (($#)); do
  case $1 in
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    --build-only) build_only=1; shift ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
out="$root/build/fuzz/out"
mkdir -p "$runs" "$out"
echo "== fuzz: build (fuzz/oss-fuzz/build.sh)"
if ! CXX=clang++ \
  CXXFLAGS="-O1 -gline-tables-only -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -fsanitize=fuzzer-no-link" \
  LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT="$out" WORK="$root/build/fuzz" \
  bash fuzz/oss-fuzz/build.sh >"$runs/build.log" 2>&1; then
  tail -40 "$runs/build.log"
  echo "== fuzz: build failed; log $runs/build.log"
  exit 1
fi
((build_only == 0)) || exit 0
scratch=$(mktemp -d /tmp/locktopus-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# One harness: its log, and its summary lines in $runs/<name>.summary.
fuzz_one() {
  local name=$1
  local binary="$out/${name}_fuzzer"
  local log="$runs/$name.log"
  local summary="$runs/$name.summary"
  mkdir -p "$scratch/$name"
  if ! unzip -q "${binary}_seed_corpus.zip" -d "$scratch/$name"; then
    echo "$name: FAILED, no seed corpus beside $binary" >"$summary"
    return 1
  fi
  local flags=(-max_total_time="$seconds" -timeout=30 -print_final_stats=1
               -artifact_prefix="$runs/$name-")
  [ -f "$binary.dict" ] && flags+=(-dict="$binary.dict")
  local max_len
  max_len=$(sed -nE 's/^max_len *= *([0-9]+).*/\1/p' "$binary.options" 2>/dev/null || true)
  [ -n "$max_len" ] && flags+=(-max_len="$max_len")

  if "$binary" "${flags[@]}" "$scratch/$name" >"$log" 2>&1; then
    # "#1234567 DONE   cov: 805 ft: 2965 corp: 707/56Kb ... exec/s: 43971 ..."
    local done_line
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | tr -s ' \t' ' ' || true)
    echo "$name: ok, $(find "$scratch/$name" -type f | wc -l) inputs after, ${done_line:-no DONE line in $log}" >"$summary"
    return 0
  fi
  local reproducer
  reproducer=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -1)
  grep -vE '^ +#[0-9]+ 0x|^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|RELOAD)' "$log" |
    tail -40 || true
  echo "$name: FAILED, log $log" >"$summary"
  if [ -n "$reproducer" ]; then
    printf '%s\n' "  reproducer: $reproducer" "  replay:     $binary $reproducer" >>"$summary"
  fi
  return 1
}

# As many harnesses at once as there are cores.
status=0
running=0
for name in "${harnesses[@]}"; do
  if ((running >= $(nproc))); then
    wait -n || status=1
    running=$((running - 1))
  fi
  echo "== fuzz: $name for $seconds s"
  fuzz_one "$name" &
  running=$((running + 1))
done
while ((running > 0)); do
  wait -n || status=1
  running=$((running - 1))
done

echo "== fuzz: summary ($seconds s each; logs in $runs)"
for name in "${harnesses[@]}"; do cat "$runs/$name.summary"; done
exit "$status"
