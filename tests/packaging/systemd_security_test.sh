#!/usr/bin/env bash
# systemd-analyze security --offline on packaging/locktopus.service: its
# overall exposure must be at most MAX (default 3.0, "OK"). Exits 77
# (skipped) without systemd-analyze, or with one older than --offline
# (systemd 250).
#   systemd_security_test.sh SOURCE_DIR [MAX]
set -euo pipefail
src=$(cd "$1" && pwd) max=${2:-3.0}
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not installed: skipped"
  exit 77
fi
if ! systemd-analyze --help | grep -q -- --offline; then
  echo "systemd-analyze has no --offline ($(systemd-analyze --version | head -1)): skipped"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Analysed under its installed name, which the report names.
cp "$src/packaging/locktopus.service" "$tmp/locktopus.service"
out=$(cd "$tmp" && SYSTEMD_LOG_LEVEL=warning systemd-analyze security --offline=yes \
  --no-pager locktopus.service 2>&1) || {
  echo "$out"
  exit 1
}
# A line the unit's parser warns about is a setting that did not apply.
if grep "locktopus.service:[0-9]" <<<"$out"; then exit 1; fi
score=$(sed -n 's/^.*Overall exposure level for locktopus.service: \([0-9.]*\) .*$/\1/p' <<<"$out")
[ -n "$score" ] || {
  echo "$out"
  echo "no overall exposure level in the report" >&2
  exit 1
}
if awk -v s="$score" -v m="$max" 'BEGIN { exit !(s > m) }'; then
  # What still counts, to choose the next setting from.
  grep "✗" <<<"$out" || true
  echo "exposure $score is over $max" >&2
  exit 1
fi
echo "systemd-analyze security: exposure $score (at most $max)"
