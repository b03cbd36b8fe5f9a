#!/bin/bash -eu
# Builds every fuzz/ harness the OSS-Fuzz way: compiler and flags from $CXX
# and $CXXFLAGS, libFuzzer (or another engine) from $LIB_FUZZING_ENGINE,
# everything into $OUT:
#   $OUT/<name>_fuzzer                      the harness
#   $OUT/<name>_fuzzer_seed_corpus.zip      fuzz/corpus/<name>/
#   $OUT/<name>_fuzzer.dict                 fuzz/<name>.dict, if any
#   $OUT/<name>_fuzzer.options              fuzz/<name>.options (max_len)
#
# Direct compiler calls, no CMake: only Boost's headers are needed (1.81 or
# later with Boost.URL; $BOOST_INCLUDE_DIR if they are not on the default
# include path). The sources are those of CMake's locktopus_engine,
# locktopus_model and locktopus_protocol targets, without the command-line
# options (CLI11) that no harness uses.
#
# OSS-Fuzz runs it with the tree at $SRC/locktopus; here, e.g.:
#   CXX=clang++ CXXFLAGS="-fsanitize=address,fuzzer-no-link" \
#   LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=$(mktemp -d) SRC=/tmp \
#   bash fuzz/oss-fuzz/build.sh
# (scripts/oss_fuzz_check.sh does this and runs the result).

set -eu

# The tree: around this script, or OSS-Fuzz's checkout when the script was
# copied out of it (to $SRC/build.sh).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ -f "$root/engine/engine.h" ] || root=${SRC:?}/locktopus

work=${WORK:-$(mktemp -d)}/locktopus
mkdir -p "$work" "$OUT"

flags=(-std=c++20 -pthread -I"$root"
       -DBOOST_ASIO_SEPARATE_COMPILATION -DBOOST_BEAST_SEPARATE_COMPILATION
       -DBOOST_ASIO_NO_DEPRECATED)
if [ -n "${BOOST_INCLUDE_DIR:-}" ]; then flags+=(-isystem "$BOOST_INCLUDE_DIR"); fi

sources=(engine/types.cc engine/engine.cc engine/lock_table.cc
         model/model_space.cc
         server/protocol.cc server/routes.cc server/connection.cc
         server/lock_service.cc server/log.cc server/metrics.cc
         server/boost_impl.cc)
objects=()
for source in "${sources[@]}"; do
  object="$work/${source//\//_}.o"
  extra=()
  # Boost's own sources are not held to our warnings.
  if [ "$source" = server/boost_impl.cc ]; then extra=(-w); fi
  # shellcheck disable=SC2086  # $CXXFLAGS is a list of flags
  $CXX $CXXFLAGS "${flags[@]}" "${extra[@]}" -c "$root/$source" -o "$object"
  objects+=("$object")
done
ar rcs "$work/liblocktopus.a" "${objects[@]}"

built=0
for harness in "$root"/fuzz/*_fuzzer.cc; do
  fuzzer=$(basename "$harness" .cc)
  name=${fuzzer%_fuzzer}
  # shellcheck disable=SC2086
  $CXX $CXXFLAGS "${flags[@]}" "$harness" "$work/liblocktopus.a" \
    $LIB_FUZZING_ENGINE -o "$OUT/$fuzzer"
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
