#!/usr/bin/env bash
# The tree's style and static checks, as CI runs them:
#   clang-format  every C++ file is formatted as .clang-format says (Google
#                 style); prints the files that are not and what it would
#                 change;
#   clang-tidy    .clang-tidy's checks (bugprone, clang-analyzer, performance,
#                 ...) over the production code (engine, model, wire, server,
#                 client, simulate), its headers included, with the release
#                 preset's compile commands; every finding is an error.
#
#   scripts/lint.sh [--format-only | --tidy-only]
#   scripts/lint.sh --fix      reformats the tree in place (format only)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

format=true
tidy=true
fix=false
case "${1:-}" in
  --format-only) tidy=false ;;
  --tidy-only) format=false ;;
  --fix) tidy=false; fix=true ;;
  "") ;;
  *) echo "lint: unknown argument $1" >&2; exit 2 ;;
esac

status=0
# Logs of this run only: others may lint other checkouts on the same machine.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
mapfile -t sources < <(git ls-files '*.cc' '*.h' | grep -v '^boostlib/')
if $format; then
  if $fix; then
    clang-format -i "${sources[@]}"
    echo "lint: formatted ${#sources[@]} files"
    exit 0
  fi
  if ! clang-format --dry-run --Werror "${sources[@]}" 2>"$logs/format.log"; then
    grep -E '^[^ ].*: (error|warning):' "$logs/format.log" | cut -d: -f1 | sort -u |
      sed 's/^/lint: not formatted: /'
    echo "lint: clang-format: the files above differ (scripts/lint.sh --fix formats them)"
    status=1
  else
    echo "lint: clang-format: ${#sources[@]} files formatted"
  fi
fi

if $tidy; then
  if [ ! -f build/release/compile_commands.json ]; then
    cmake --preset release >/dev/null
  fi
  mapfile -t units < <(git ls-files 'engine/*.cc' 'model/*.cc' 'wire/*.cc' \
    'server/*.cc' 'client/*.cc' 'simulate/*.cc')
  if run-clang-tidy -quiet -j "$(nproc)" -p build/release \
    -header-filter="$root/(engine|model|wire|server|client|simulate)/" \
    "${units[@]}" >"$logs/tidy.log" 2>&1; then
    echo "lint: clang-tidy: ${#units[@]} files, no finding"
  else
    grep -E 'warning:|error:' "$logs/tidy.log" | sed 's/\x1b\[[0-9;]*m//g' | sort -u | head -50
    echo "lint: clang-tidy found the above"
    status=1
  fi
fi
exit "$status"
