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
#   scripts/cluster.sh [--port N] [--bin PATH] [--dir DIR] [server flags...]
#
#   --port  HAProxy's port (default 9009)
#   --bin   the server binary to run (default: build the release preset)
#   --dir   where the etcd data, the logs and the configuration go (default:
#           a temporary directory, removed at exit)
# Other arguments go to every server, e.g. --ha-ttl-ms 3000
# --default-abandon-timeout 3000 (a TTL of at least 3 x etcd's election
# timeout, 1000 ms here: README, "Why it is safe").
#
# Each server runs under a small supervisor: a server that exits 3 (fenced:
# it could no longer prove it was the active) or dies of a signal (kill -9
# of an active, to try a failover) is started again, as a standby; exit 0
# (after SIGTERM) stops it for good, and exit 2 (flags refused) stops the
# whole cluster.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

proxy_port=9009
bin=""
dir=""
server_args=()
while (($#)); do
  case "$1" in
    --port) proxy_port=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
etcd_bin=$(command -v etcd || echo /usr/bin/etcd)
haproxy_bin=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x "$etcd_bin" ] || { echo "cluster: etcd not found (scripts/setup.sh installs etcd-server)" >&2; exit 2; }
[ -x "$haproxy_bin" ] || { echo "cluster: haproxy not found (scripts/setup.sh installs it)" >&2; exit 2; }

keep_dir=1
if [ -z "$dir" ]; then
  dir=$(mktemp -d "${TMPDIR:-/tmp}/locktopus-cluster-XXXXXX")
  keep_dir=0
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# True if something listens on 127.0.0.1:$1.
listening() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Sets $port to a loopback port nothing listens on, and that this script
# has not handed out yet.
taken=" $proxy_port "
free_port() {
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 30000))
    if [[ $taken != *" $port "* ]] && ! listening "$port"; then
      taken+="$port "
      return
    fi
  done
  echo "cluster: found no free port" >&2
  exit 1
}

# The body of GET $2 from 127.0.0.1:$1, or nothing.
http_get() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  cat <&3
  exec 3<&-
}

# Every process below is started with setsid: a Ctrl-C reaches this script
# only, which stops them in order (servers, then HAProxy, then etcd).
etcd_pids=()
supervisor_pids=()
haproxy_pid=""

stop_all() {
  trap - EXIT
  # A second Ctrl-C while servers drain: a second SIGTERM, which ends the
  # drain at once.
  trap 'echo "cluster: stopping the servers at once" >&2; kill -TERM "${supervisor_pids[@]}" 2>/dev/null || true' INT TERM
  if ((${#supervisor_pids[@]})); then
    echo "cluster: stopping the servers (they drain their live locks; Ctrl-C again stops them at once)" >&2
    kill -TERM "${supervisor_pids[@]}" 2>/dev/null || true
    for pid in "${supervisor_pids[@]}"; do
      while kill -0 "$pid" 2>/dev/null; do wait "$pid" 2>/dev/null || true; done
    done
  fi
  trap '' INT
  if [ -n "$haproxy_pid" ]; then
    kill -TERM "$haproxy_pid" 2>/dev/null || true
    wait "$haproxy_pid" 2>/dev/null || true
  fi
  for pid in "${etcd_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # A member whose peers have gone keeps campaigning; its data goes anyway.
  for pid in "${etcd_pids[@]}"; do
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if ((keep_dir)); then
    echo "cluster: stopped; logs and data in $dir" >&2
  else
    rm -rf "$dir"
    echo "cluster: stopped" >&2
  fi
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- etcd: 3 members, the timing of HA-NOTES.md
cluster_spec=""
endpoints=""
declare -a client_ports peer_ports
for i in 0 1 2; do
  free_port; client_ports[i]=$port
  free_port; peer_ports[i]=$port
  cluster_spec+="${cluster_spec:+,}e$i=http://127.0.0.1:${peer_ports[i]}"
  endpoints+="${endpoints:+,}http://127.0.0.1:${client_ports[i]}"
done
for i in 0 1 2; do
  client=http://127.0.0.1:${client_ports[i]}
  peer=http://127.0.0.1:${peer_ports[i]}
  setsid "$etcd_bin" --name "e$i" --data-dir "$dir/etcd-e$i" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "$cluster_spec" --initial-cluster-state new \
    --initial-cluster-token "locktopus-cluster-$$" \
    --heartbeat-interval 100 --election-timeout 1000 \
    </dev/null >"$dir/etcd-e$i.log" 2>&1 &
  etcd_pids+=($!)
done
# Healthy: each member answers /health with a leader elected.
for i in 0 1 2; do
  for tries in $(seq 100); do
    if http_get "${client_ports[i]}" /health 2>/dev/null | grep -q '"health":"true"'; then break; fi
    if ! kill -0 "${etcd_pids[i]}" 2>/dev/null; then
      echo "cluster: etcd member e$i exited; its log ends:" >&2
      tail -n 20 "$dir/etcd-e$i.log" >&2
      exit 1
    fi
    if ((tries == 100)); then echo "cluster: etcd member e$i not healthy after 20 s" >&2; exit 1; fi
    sleep 0.2
  done
done

# --- The cluster's keys in etcd: its shard map and each group's record.
# A new cluster: no grace at the first start (locktopus --help, --ha-init).
if ! "$bin" --ha-init --ha-new-cluster --etcd-endpoints "$endpoints" \
  --ha-groups g0,g1 --ha-group g0 >"$dir/ha-init.log" 2>&1; then
  echo "cluster: locktopus --ha-init failed:" >&2
  cat "$dir/ha-init.log" >&2
  exit 1
fi

# --- Locktopus: 2 groups of 2, each server under its supervisor
names=(g0s0 g0s1 g1s0 g1s1)
declare -A server_port server_group
for name in "${names[@]}"; do
  free_port; server_port[$name]=$port
  server_group[$name]=${name:0:2}
done

# Runs server $1 until it stops for good; see the header for the exit codes.
supervise() {
  local name=$1 child="" stop=0 code
  trap 'stop=1; [ -z "$child" ] || kill -TERM "$child" 2>/dev/null || true' TERM
  local log="$dir/$name.log"
  while :; do
    rm -f "$dir/$name.port"
    setsid "$bin" -H 127.0.0.1 -p "${server_port[$name]}" --port-file "$dir/$name.port" \
      --etcd-endpoints "$endpoints" --ha-group "${server_group[$name]}" --ha-groups g0,g1 \
      "${server_args[@]}" </dev/null >>"$log" 2>&1 &
    child=$!
    echo "$child" >"$dir/$name.pid"
    # A trapped SIGTERM interrupts wait; the server may still be draining.
    while :; do
      code=0
      wait "$child" 2>/dev/null || code=$?
      kill -0 "$child" 2>/dev/null || break
    done
    child=""
    if ((stop)); then exit 0; fi
    case $code in
      0) echo "cluster: $name stopped (exit 0)" >&2; exit 0 ;;
      2) echo "cluster: $name refused its flags (exit 2); its log ends:" >&2
         tail -n 5 "$log" >&2
         exit 2 ;;
      3) echo "cluster: $name was fenced (exit 3): starting it again as a standby" >&2 ;;
      *) echo "cluster: $name exited with $code: starting it again as a standby in 1 s" >&2
         sleep 1 ;;
    esac
  done
}
for name in "${names[@]}"; do
  supervise "$name" &
  supervisor_pids+=($!)
done

# --- HAProxy: group K is gK's two servers
packaging/haproxy/render.sh --listen "127.0.0.1:$proxy_port" \
  --group "127.0.0.1:${server_port[g0s0]},127.0.0.1:${server_port[g0s1]}" \
  --group "127.0.0.1:${server_port[g1s0]},127.0.0.1:${server_port[g1s1]}" \
  --ha-groups g0,g1 --inter 250 --fall 2 --rise 1 --stats-socket "$dir/haproxy.sock" >"$dir/haproxy.cfg"
if listening "$proxy_port"; then
  echo "cluster: port $proxy_port is taken (--port N picks another)" >&2
  exit 1
fi
setsid "$haproxy_bin" -f "$dir/haproxy.cfg" -db </dev/null >"$dir/haproxy.log" 2>&1 &
haproxy_pid=$!

# Every server listening (or its supervisor gone), HAProxy too.
for name in "${names[@]}"; do
  for tries in $(seq 200); do
    [ -s "$dir/$name.port" ] && break
    # The supervisor of a server that refused its flags has exited.
    for pid in "${supervisor_pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || { echo "cluster: a server could not start (see above); stopping" >&2; exit 1; }
    done
    if ((tries == 200)); then echo "cluster: $name not listening after 20 s; see $dir/$name.log" >&2; exit 1; fi
    sleep 0.1
  done
done
for tries in $(seq 50); do
  listening "$proxy_port" && break
  kill -0 "$haproxy_pid" 2>/dev/null || { echo "cluster: haproxy exited:" >&2; cat "$dir/haproxy.log" >&2; exit 1; }
  sleep 0.1
done

# Who is active: /readyz 200 (the others are standbys, 503).
role() { http_get "${server_port[$1]}" /readyz 2>/dev/null | tail -n 1; }

cat <<EOF
Locktopus cluster on loopback
  use:    ws://127.0.0.1:$proxy_port/v1?namespace=NAME   (status page http://127.0.0.1:$proxy_port/)
  etcd:   $endpoints
  groups: g0, g1; a namespace's group is CRC-32 of its name mod 2 (see packaging/haproxy/)
EOF
for name in "${names[@]}"; do
  printf '  %s  group %s  port %s  pid %s  %s  log %s\n' "$name" "${server_group[$name]}" \
    "${server_port[$name]}" "$(cat "$dir/$name.pid")" "$(role "$name")" "$dir/$name.log"
done
cat <<EOF
  haproxy: pid $haproxy_pid, config $dir/haproxy.cfg
           admin socket $dir/haproxy.sock ("show stat": which server of a group is up)
Ctrl-C stops everything.
EOF

# Until Ctrl-C. A server stopped by hand (SIGTERM: a clean switchover)
# leaves the others running; one that refuses its flags stops the cluster.
while :; do
  live=()
  for pid in "${supervisor_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then live+=("$pid"); fi
  done
  if ((${#live[@]} == 0)); then
    echo "cluster: every server has stopped" >&2
    exit 0
  fi
  code=0
  wait -n "${live[@]}" || code=$?
  if ((code == 2)); then
    echo "cluster: a server refused its flags; stopping the cluster" >&2
    exit 1
  fi
done
