#!/bin/bash -eu
# Builds every fuzz/ harness the OSS-Fuzz way, through CMake's oss-fuzz
# preset: compiler and flags from $CXX and $CXXFLAGS, libFuzzer (or another
# engine) from $LIB_FUZZING_ENGINE, a build tree under $WORK, and into $OUT:
#   $OUT/<name>_fuzzer                      the harness
#   $OUT/<name>_fuzzer_seed_corpus.zip      fuzz/corpus/<name>/
#   $OUT/<name>_fuzzer.dict                 fuzz/<name>.dict, if any
#   $OUT/<name>_fuzzer.options              fuzz/<name>.options (max_len)
#
# The preset configures only the harnesses and what they link, so the build
# needs CMake, Ninja and Boost 1.81's headers ($BOOST_INCLUDE_DIR if they
# are not on the default include path).
#
# OSS-Fuzz runs it with the tree at $SRC/locktopus; here, e.g.:
#   CXX=clang++ CXXFLAGS="-fsanitize=address,fuzzer-no-link" \
#   LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=$(mktemp -d) WORK=$(mktemp -d) \
#   SRC=/tmp bash fuzz/oss-fuzz/build.sh
# (scripts/fuzz.sh does this, with UBSan too, and fuzzes the result).

set -eu

# The tree: around this script, or OSS-Fuzz's checkout when the script was
# copied out of it (to $SRC/build.sh).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ -f "$root/engine/engine.h" ] || root=${SRC:?}/locktopus
export WORK=${WORK:-$(mktemp -d)}
mkdir -p "$OUT"

boost=()
if [ -n "${BOOST_INCLUDE_DIR:-}" ]; then
  boost=(-DBoost_INCLUDE_DIR="$BOOST_INCLUDE_DIR")
fi
(cd "$root" && cmake --preset oss-fuzz "${boost[@]}" >/dev/null &&
  cmake --build --preset oss-fuzz)

built=0
for harness in "$root"/fuzz/*_fuzzer.cc; do
  fuzzer=$(basename "$harness" .cc)
  name=${fuzzer%_fuzzer}
  cp "$WORK/locktopus-oss-fuzz/bin/$fuzzer" "$OUT/$fuzzer"
  rm -f "$OUT/${fuzzer}_seed_corpus.zip"
  (cd "$root/fuzz/corpus/$name" && zip -q -X "$OUT/${fuzzer}_seed_corpus.zip" ./*)
  for extension in dict options; do
    if [ -f "$root/fuzz/$name.$extension" ]; then
      cp "$root/fuzz/$name.$extension" "$OUT/$fuzzer.$extension"
    fi
  done
  built=$((built + 1))
done
echo "build.sh: built $built harnesses into $OUT"
