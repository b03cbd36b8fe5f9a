#!/usr/bin/env bash
# systemd-analyze verify on packaging/locktopus.service, with its binary and
# EnvironmentFile pointed at the build. Exits 77 (skipped) without
# systemd-analyze.
#   systemd_verify_test.sh LOCKTOPUS_BIN SOURCE_DIR
set -euo pipefail
bin=$(realpath "$1") src=$(cd "$2" && pwd)
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not installed: skipped"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e "s|/usr/bin/locktopus|$bin|" \
    -e "s|/etc/default/locktopus|$src/packaging/locktopus.default|" \
    "$src/packaging/locktopus.service" >"$tmp/locktopus.service"
grep -q "ExecStart=$bin" "$tmp/locktopus.service"
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$tmp/locktopus.service" 2>&1) || {
  echo "$out"
  exit 1
}
# verify exits 0 on some warnings; any line about our unit is a finding.
if grep -i "locktopus.service" <<<"$out"; then exit 1; fi
echo "systemd-analyze verify: clean"
