#!/usr/bin/env bash
# `cmake --install` into a scratch root, then client/examples built out of
# tree against the installed copy (find_package(locktopus)), and run
# against the installed server.
#   install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
. "$src/tests/packaging/common.sh"
tmp=$(mktemp -d)
trap 'stop_server; rm -rf "$tmp"' EXIT

DESTDIR=$tmp/root cmake --install "$build" --prefix /usr >/dev/null
prefix=$tmp/root/usr
for f in bin/locktopus bin/locktopusctl include/locktopus/client.h \
         lib/systemd/system/locktopus.service; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f" >&2; exit 1; }
done
[ -e "$tmp/root/etc/default/locktopus" ] || { echo "no /etc/default/locktopus" >&2; exit 1; }
# The public headers keep Boost to the implementation.
if grep -n '#include <boost' -r "$prefix/include/locktopus"; then
  echo "public headers include Boost" >&2
  exit 1
fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$src/client/examples" -B "$tmp/example" -G Ninja \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}" >"$tmp/configure.log" ||
  { cat "$tmp/configure.log"; exit 1; }
grep -q "$prefix" "$tmp/example/CMakeCache.txt" ||
  { echo "did not find the installed package" >&2; exit 1; }
cmake --build "$tmp/example" >"$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }

start_server "$prefix/bin/locktopus" "$tmp/server.log"
# The installed locktopusctl holds lock 1 (and so the namespace, which the
# server frees once nobody holds it) while the example takes lock 2 and the
# statistics are read.
ctl="$prefix/bin/locktopusctl"
out=$("$ctl" --port "$server_port" --namespace install-test lock -w held -- \
  sh -c '"$1" "ws://127.0.0.1:$2/v1?namespace=install-test" jobs/nightly &&
         "$3" --port "$2" stats install-test' \
  sh "$tmp/example/lock_example" "$server_port" "$ctl")
echo "$out"
grep -q "fencing token 2" <<<"$out"
grep -q "released" <<<"$out"
grep -q '"LastGroupID":2,"GroupsPending":0,"GroupsAcquired":1' <<<"$out"
echo "install test passed"
