#!/usr/bin/env bash
# Starts an etcd cluster on loopback for the HA mode (by hand, or under
# scripts/bench.sh): N members, each with its own data directory and log
# under one temporary directory. The members are started by the tree's one
# cluster harness, tests/lib/cluster.mjs (node), as for scripts/cluster.sh
# and the tests.
#
# Once the members agree on a leader, prints the client URLs,
# comma-separated, as the only line on stdout (what --etcd-endpoints-style
# flags take); the members' PIDs, ports and logs go to stderr. Then waits:
# Ctrl-C or SIGTERM stops the members and removes the data. Killing one
# member by hand (kill -9 PID) leaves the others running.
#
#   scripts/etcd_cluster.sh [-n MEMBERS] [-p FIRST_PORT] [-k]
#     -n  members, default 3
#     -p  member i gets client port FIRST_PORT+2i and peer port +2i+1;
#         default: free ports picked at random
#     -k  keep the data directory on exit
#
# LOCKTOPUS_ETCD_BIN overrides the etcd on the PATH. Timing as docs/ha.md
# assumes (Why it is safe): --heartbeat-interval 100 --election-timeout 1000.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

args=(--members 3 --urls)
while getopts "n:p:k" opt; do
  case $opt in
    n) args+=(--members "$OPTARG") ;;
    p) args+=(--first-port "$OPTARG") ;;
    k) args+=(--keep) ;;
    *) sed -n '2,21p' "$0" >&2; exit 2 ;;
  esac
done
exec node "$root/tests/lib/cluster.mjs" etcd "${args[@]}"
