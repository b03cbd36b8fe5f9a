#!/usr/bin/env bash
# Starts an etcd cluster on loopback for the HA mode (by hand, or under
# scripts/cluster.sh): N members, each with its own data directory and log
# under one temporary directory, as tests/e2e/etcd_cluster.h does for tests.
#
# Once every member is healthy, prints the client URLs, comma-separated, as
# the only line on stdout (what --etcd-endpoints-style flags take); the
# members' PIDs, ports and logs go to stderr. Then waits: Ctrl-C, SIGTERM or
# the script's exit stops the members and removes the data. Killing one
# member by hand (kill -9 PID) leaves the others running.
#
#   scripts/etcd_cluster.sh [-n MEMBERS] [-p FIRST_PORT] [-k]
#     -n  members, default 3
#     -p  member i gets client port FIRST_PORT+2i and peer port +2i+1;
#         default: a free range picked at random
#     -k  keep the data directory on exit
#
# LOCKTOPUS_ETCD_BIN overrides /usr/bin/etcd; etcdctl (etcd-client) checks
# health. Timing as in HA-NOTES.md: --heartbeat-interval 100
# --election-timeout 1000.
set -euo pipefail

members=3
first_port=""
keep=0
while getopts "n:p:k" opt; do
  case $opt in
    n) members=$OPTARG ;;
    p) first_port=$OPTARG ;;
    k) keep=1 ;;
    *) sed -n '2,22p' "$0" >&2; exit 2 ;;
  esac
done
etcd_bin=${LOCKTOPUS_ETCD_BIN:-/usr/bin/etcd}
[ -x "$etcd_bin" ] || { echo "etcd_cluster: $etcd_bin not found (scripts/setup.sh installs etcd-server)" >&2; exit 1; }
command -v etcdctl >/dev/null || { echo "etcd_cluster: etcdctl not found (scripts/setup.sh installs etcd-client)" >&2; exit 1; }
[[ $members =~ ^[1-9][0-9]?$ ]] || { echo "etcd_cluster: -n wants 1 to 99 members" >&2; exit 2; }

# True if something listens on 127.0.0.1:$1.
listening() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ports_free() {
  local p
  for ((p = $1; p < $1 + 2 * members; p++)); do
    if listening "$p"; then return 1; fi
  done
}

if [ -z "$first_port" ]; then
  for _ in $(seq 20); do
    candidate=$((20000 + 2 * (RANDOM % 15000)))
    if ports_free "$candidate"; then first_port=$candidate; break; fi
  done
  [ -n "$first_port" ] || { echo "etcd_cluster: found no free port range" >&2; exit 1; }
elif ! ports_free "$first_port"; then
  echo "etcd_cluster: a port from $first_port on is taken" >&2
  exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/locktopus-etcd-XXXXXX")
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    # etcd stops within a second on SIGTERM; then SIGKILL.
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if ((keep)); then
    echo "etcd_cluster: data kept in $dir" >&2
  else
    rm -rf "$dir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

initial_cluster=""
client_urls=""
for ((i = 0; i < members; i++)); do
  peer=$((first_port + 2 * i + 1))
  initial_cluster+="${initial_cluster:+,}m$i=http://127.0.0.1:$peer"
  client_urls+="${client_urls:+,}http://127.0.0.1:$((first_port + 2 * i))"
done

for ((i = 0; i < members; i++)); do
  client=http://127.0.0.1:$((first_port + 2 * i))
  peer=http://127.0.0.1:$((first_port + 2 * i + 1))
  "$etcd_bin" --name "m$i" --data-dir "$dir/m$i" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "$initial_cluster" --initial-cluster-state new \
    --initial-cluster-token "locktopus-$$" \
    --heartbeat-interval 100 --election-timeout 1000 \
    --logger zap </dev/null >"$dir/m$i.log" 2>&1 &
  pids+=($!)
  echo "etcd_cluster: m$i pid $! client $client peer $peer log $dir/m$i.log" >&2
done

# Healthy: every member answers a quorum read, so a leader is elected.
for ((tries = 0; ; tries++)); do
  if ETCDCTL_API=3 etcdctl --endpoints="$client_urls" --dial-timeout=1s \
       --command-timeout=2s endpoint health >/dev/null 2>&1; then
    break
  fi
  for ((i = 0; i < members; i++)); do
    if ! kill -0 "${pids[i]}" 2>/dev/null; then
      echo "etcd_cluster: m$i exited; its log ends:" >&2
      tail -n 20 "$dir/m$i.log" >&2
      exit 1
    fi
  done
  if ((tries >= 100)); then
    echo "etcd_cluster: not healthy after 20 s" >&2
    exit 1
  fi
  sleep 0.2
done

echo "etcd_cluster: $members member(s) healthy; Ctrl-C stops them" >&2
echo "$client_urls"
# Until a signal, or until every member has exited.
wait || true
