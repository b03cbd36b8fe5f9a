#!/usr/bin/env bash
# The tree's style check, as CI runs it (scripts/test.sh): every C++ file is
# formatted as .clang-format says (Google style); prints the files that are
# not.
#
#   scripts/lint.sh [--format-only]   check (the flag is the default)
#   scripts/lint.sh --fix             reformats the tree in place
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

fix=false
case "${1:-}" in
  --format-only | "") ;;
  --fix) fix=true ;;
  *) echo "lint: unknown argument $1" >&2; exit 2 ;;
esac

status=0
# Logs of this run only: others may lint other checkouts on the same machine.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
mapfile -t sources < <(git ls-files '*.cc' '*.h' | grep -v '^boostlib/')
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

exit "$status"
