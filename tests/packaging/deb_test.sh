#!/usr/bin/env bash
# CPack's .deb: built, extracted into a scratch root, its locktopus runs
# --help, and started on a free port it answers GET /.
#   deb_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
. "$src/tests/packaging/common.sh"
tmp=$(mktemp -d)
trap 'stop_server; rm -rf "$tmp"' EXIT

(cd "$tmp" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/out" >"$tmp/cpack.log") ||
  { cat "$tmp/cpack.log"; exit 1; }
deb=$(ls "$tmp"/out/locktopus_*.deb)
# (Output captured before grep -q: under pipefail, grep quitting early
# would fail the writer with SIGPIPE.)
info=$(dpkg-deb --info "$deb")
grep -q "Package: locktopus" <<<"$info"
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
grep -qx /etc/default/locktopus <<<"$conffiles"
dpkg-deb -x "$deb" "$tmp/root"
for f in usr/bin/locktopus usr/bin/locktopusctl usr/lib/systemd/system/locktopus.service \
         etc/default/locktopus; do
  [ -e "$tmp/root/$f" ] || { echo "not in the package: $f" >&2; exit 1; }
done

help=$("$tmp/root/usr/bin/locktopus" --help)
grep -q LOCKTOPUS_PORT <<<"$help"
start_server "$tmp/root/usr/bin/locktopus" "$tmp/server.log"
reply=$(http_get "$server_port" /)
head -1 <<<"$reply"
grep -q "^HTTP/1.1 200" <<<"$reply"
grep -q "Locktopus" <<<"$reply"
status=$("$tmp/root/usr/bin/locktopusctl" --port "$server_port" status)
grep -q "^State: *serving (takes clients)" <<<"$status"
echo "deb test passed"
