#!/usr/bin/env bash
# A cluster on loopback, to try the HA mode and sharding by hand: 3 etcd
# members, 2 groups of 2 Locktopus servers (an active and a standby each,
# elected in etcd) and HAProxy in front with packaging/haproxy/'s
# configuration. Builds the release preset first (scripts/setup.sh installs
# etcd and haproxy), prints the URL to use, the etcd endpoints and every
# server's port, pid and log, then runs until Ctrl-C or SIGTERM, which stop
# everything it started (servers first: they drain their live locks; a
# second Ctrl-C stops them at once).
#
#   scripts/cluster.sh [--port N] [--bin PATH] [--dir DIR] [--no-replication]
#                      [server flags...]
#
#   --port  HAProxy's port (default 9009)
#   --bin   the server binary to run (default: build the release preset)
#   --dir   where the etcd data, the logs and the configuration go (default:
#           a temporary directory, removed at exit)
#   --no-replication
#           no replication: without it, the servers of each group share a
#           peer token made for this cluster (DIR/GROUP.peer-token, given
#           as --ha-peer-token-file), so a standby keeps the active's locks
#           and takes over without a grace (docs/ha.md)
# Other arguments go to every server, e.g. --ha-ttl-ms 3000
# --default-abandon-timeout 3000 (a TTL of at least 3 x etcd's election
# timeout, 1000 ms here: docs/ha.md, "Why it is safe").
#
# Each server runs under a small supervisor: a server that exits 3 (fenced:
# it could no longer prove it was the active) or dies of a signal (kill -9
# of an active, to try a failover) is started again, as a standby; exit 0
# (after SIGTERM) stops it for good, and exit 2 (flags refused) stops the
# whole cluster. The cluster is started by tests/lib/cluster.mjs (node), as
# the failover test's is.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

proxy_port=9009
bin=""
dir=""
replication=yes
server_args=()
while (($#)); do
  case "$1" in
    --port) proxy_port=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --no-replication) replication=no; shift ;;
    -h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) server_args+=("$1"); shift ;;
  esac
done

if [ -z "$bin" ]; then
  scripts/setup.sh
  cmake --preset release >/dev/null
  if ! out=$(cmake --build --preset release --target locktopus 2>&1); then
    echo "$out" | tail -40
    echo "cluster: build failed" >&2
    exit 1
  fi
  bin="$root/build/release/bin/locktopus"
fi
[ -x "$bin" ] || { echo "cluster: no server binary at $bin" >&2; exit 2; }
command -v node >/dev/null || { echo "cluster: node not found (scripts/setup.sh installs it)" >&2; exit 2; }

# The cluster itself is tests/lib/cluster.mjs's, as the failover test's.
args=(--bin "$bin" --port "$proxy_port")
[ -z "$dir" ] || args+=(--dir "$dir")
[ "$replication" = yes ] || args+=(--no-replication)
exec node tests/lib/cluster.mjs ha "${args[@]}" -- "${server_args[@]}"
