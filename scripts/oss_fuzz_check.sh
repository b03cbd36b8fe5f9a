#!/usr/bin/env bash
# Checks the OSS-Fuzz build as OSS-Fuzz would use it: runs
# fuzz/oss-fuzz/build.sh with clang, AddressSanitizer and libFuzzer into a
# temporary $OUT, then runs each harness once over its unzipped seed corpus
# (-runs=0: execute every input, fuzz nothing). Exits non-zero if the build
# or any harness fails, or if a harness lacks its seed corpus; a failing
# input is kept under build/oss-fuzz-check/.
#
#   scripts/oss_fuzz_check.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh

tmp=$(mktemp -d /tmp/locktopus-oss-fuzz.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/out" "$tmp/work" "$tmp/src"

echo "== oss-fuzz: build.sh"
CXX=clang++ CXXFLAGS="-fsanitize=address,fuzzer-no-link" \
  LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
  OUT="$tmp/out" WORK="$tmp/work" SRC="$tmp/src" \
  bash fuzz/oss-fuzz/build.sh

artifacts="$root/build/oss-fuzz-check"
mkdir -p "$artifacts"
status=0
count=0
for fuzzer in "$tmp"/out/*_fuzzer; do
  name=$(basename "$fuzzer")
  count=$((count + 1))
  corpus="$tmp/corpus/$name"
  mkdir -p "$corpus"
  if ! unzip -q "${fuzzer}_seed_corpus.zip" -d "$corpus"; then
    echo "== oss-fuzz: $name: FAILED, no seed corpus"
    status=1
    continue
  fi
  if "$fuzzer" -runs=0 -artifact_prefix="$artifacts/$name-" "$corpus" \
    >"$tmp/$name.log" 2>&1; then
    echo "== oss-fuzz: $name: ok, $(find "$corpus" -type f | wc -l) seeds"
  else
    grep -vE '^ +#[0-9]+ 0x' "$tmp/$name.log" | tail -30 || true
    echo "== oss-fuzz: $name: FAILED"
    status=1
  fi
done
[ "$count" -gt 0 ] || { echo "== oss-fuzz: no harness was built"; status=1; }
exit "$status"
