#!/usr/bin/env bash
# Benchmarks Locktopus: the engine (Google Benchmark, and its bytes per
# node, entry and lock, when engine_bench is built) and the server under load
# from locktopus-bench. Each server scenario runs against the real server and against a floor server (same Beast
# stack, no lock logic: the always-grant floor, or for the one-path scenario
# the serializing floor, one holder at a time per path in a plain FIFO) in
# turn, each on a fresh process; the one-client and distinct-path scenarios
# also against Redis (redis-server from apt, installed here if missing),
# whose clients take the SET NX PX / compare-and-delete lock on a key each.
# Unless --no-io-uring, every scenario also runs against the server built
# with Asio on io_uring (the release-io-uring preset; liburing-dev is
# installed here if missing), where the kernel allows io_uring; the load
# generator stays the default build's.
# Unless --no-ha, the one-client and distinct-path scenarios also run against
# this tree's server in HA mode (docs/ha.md): one
# etcd member on loopback (scripts/etcd_cluster.sh -n 1, started once, its
# data under the run's temporary directory, stopped when no scenario needs it
# any more), initialised once as a new cluster of one group, "bench"
# (locktopus --ha-init --ha-new-cluster: no grace at its first start), and
# each run's server that group's only server; it stops cleanly, so the next
# run's is elected at once without a grace either; measured
# once /readyz answers 200 "serving", that is once it is the group's active and
# grants. As the lock path never touches etcd, a cycle should cost the active
# what it costs a standalone server: "HA / standalone" is its server CPU per
# cycle over the standalone server's, each HA run right after the standalone
# one. Without etcd, or node to start it (scripts/setup.sh installs both),
# its columns stay empty.
# Unless --no-ha, the one-client and distinct-path scenarios also run
# against a replicated group (docs/ha.md, Replication): two of this tree's
# servers in the same HA group with a peer token (--ha-peer-token-file), the
# first elected active and the second its standby, measured once the
# active's log says the standby is in the in-sync set ("in-sync standbys
# becoming [127.0.0.1:PORT]") and the group's record in etcd names it (read
# with etcdctl, when there is one). Each of its runs comes right after the HA
# run; "active / standalone" is the active's server CPU per cycle over the
# standalone server's (target: at most 1.3 with 64 clients), beside the
# standby's CPU per cycle (--standby-pid) and the whole cycle's p50 against
# the standalone p50 plus two loopback round trips (target: at most that),
# a round trip being the p50 of 2000 WebSocket pings, one after another,
# that the standalone run sends its server before its load (--pings). The
# standby is stopped first, so that the active does not hand over to it.
# The one-client and distinct-path scenarios also run with each client in a
# resumable session (session=new in the URL; the load generator reads the
# session's frame before it starts): the same server and load, right before
# the plain run; "session / plain" is its server CPU per cycle over the
# plain run's.
# Each run's output is kept; locktopus-bench --report makes the tables of
# medians and ratios from them (bench/report.h). They are printed and also
# written to bench/results/latest.md, with the machine, the commit and the
# load average before and after.
#
# Per cycle it reports each server's CPU time (/proc/PID/stat), its context
# switches (/proc/PID/task/*/status) and, run as root, its system calls
# (perf stat on the raw_syscalls:sys_enter tracepoint, in a window of its
# own after the measured one, as counting them slows every call a little;
# linux-perf is installed here if missing).
#
#   scripts/bench.sh           3 runs per scenario, 10 s measured + 2 s warm-up
#   scripts/bench.sh --quick   1 run per scenario, 4 s measured + 1 s warm-up
#   scripts/bench.sh [--quick] [--no-io-uring] [--no-ha] --baseline BIN
#       also runs every scenario against BIN, another locktopus binary (an
#       older build, say): each run goes to this tree's server, the floor and
#       BIN in turn, so that all three see the same machine state; the table
#       adds BIN's server CPU per cycle and this tree's over it
#
# Threads, for a 2-core machine: the server (and the floor) 1 I/O thread,
# the load generator 1 thread, so each has a core.
#
# Exits non-zero if any run against Locktopus reports a violation, or any
# run an error (failed connection, unexpected answer or close, a client that
# never finished its cycle). Timings are reported, never asserted. Against
# the always-grant floor, violations are expected: it grants conflicting
# locks together. The serializing floor, Redis, the baseline and the HA
# server are held to the same rules as Locktopus.
set -uo pipefail

runs=3
duration=10
warmup=2
baseline=""
io_uring=1
ha=1
usage="usage: scripts/bench.sh [--quick] [--no-io-uring] [--no-ha] [--baseline PATH_TO_LOCKTOPUS]"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) runs=1 duration=4 warmup=1 ;;
    --no-io-uring) io_uring=0 ;;
    --no-ha) ha=0 ;;
    --baseline)
      [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
      baseline=$2
      shift
      ;;
    --baseline=*) baseline=${1#--baseline=} ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$baseline" ]; then
  # Resolved before leaving the caller's directory.
  if [ ! -f "$baseline" ] || [ ! -x "$baseline" ]; then
    echo "bench: --baseline $baseline is not an executable file" >&2
    exit 2
  fi
  baseline=$(realpath -- "$baseline")
fi
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
server_threads=1
bench_threads=1
idle_connections=10000
syscall_window=2
[ "$runs" -eq 1 ] && syscall_window=1

scripts/setup.sh || exit 1

# The benchmark's own tools, not every developer's: Redis to compare with,
# perf to count system calls, liburing for the io_uring build.
bench_packages=()
command -v redis-server >/dev/null 2>&1 || bench_packages+=(redis-server redis-tools)
command -v perf >/dev/null 2>&1 || bench_packages+=(linux-perf)
if [ "$io_uring" -eq 1 ] &&
  ! dpkg-query -W -f='${Status}' liburing-dev 2>/dev/null | grep -q 'ok installed'; then
  bench_packages+=(liburing-dev)
fi
if ((${#bench_packages[@]})); then
  echo "bench: installing ${bench_packages[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends "${bench_packages[@]}" >/dev/null ||
    echo "bench: could not install ${bench_packages[*]}" >&2
fi
redis=1
if ! command -v redis-server >/dev/null 2>&1; then
  echo "bench: no redis-server: the Redis columns stay empty" >&2
  redis=0
fi
etcd_bin=${LOCKTOPUS_ETCD_BIN:-/usr/bin/etcd}
if [ "$ha" -eq 1 ] && { [ ! -x "$etcd_bin" ] || ! command -v node >/dev/null 2>&1; }; then
  echo "bench: no etcd ($etcd_bin) or node: the HA columns stay empty" >&2
  ha=0
fi
count_syscalls=(--count-syscalls "$syscall_window")
if [ "$(id -u)" -ne 0 ] || ! command -v perf >/dev/null 2>&1; then
  echo "bench: system calls are counted with perf, as root only: their columns stay empty" >&2
  count_syscalls=()
fi
cmake --preset release >/dev/null || exit 1
targets=(locktopus locktopus-bench)
if cmake --build --preset release --target help 2>/dev/null | grep -q '\bengine_bench\b'; then
  targets+=(engine_bench engine_memory)
fi
cmake --build --preset release -j 2 --target "${targets[@]}" | grep -Ev '^\[[0-9]+/[0-9]+\] '
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "bench: build failed" >&2; exit 1; }

bin="$root/build/release/bin"
# The io_uring build: its server only (the load generator stays the
# default build's), where the kernel allows io_uring.
uring_bin="$root/build/release-io-uring/bin"
if [ "$io_uring" -eq 1 ] && ! cmake --preset release-io-uring >/dev/null; then
  echo "bench: cannot configure the io_uring build (liburing-dev?): its columns stay empty" >&2
  io_uring=0
fi
if [ "$io_uring" -eq 1 ]; then
  cmake --build --preset release-io-uring -j 2 --target locktopus |
    grep -Ev '^\[[0-9]+/[0-9]+\] '
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "bench: the io_uring build failed" >&2; exit 1; }
  if ! why=$("$uring_bin/locktopus" --help 2>&1 >/dev/null); then
    echo "bench: the io_uring build cannot run here, its columns stay empty: $why" >&2
    io_uring=0
  fi
fi
results="$root/bench/results"
mkdir -p "$results"
tmp=$(mktemp -d)
# Each run's output, as <kind>.<scenario>.<run>: what the report reads.
runs_dir="$tmp/runs"
mkdir "$runs_dir"
server_pid=""
standby_pid=""
etcd_pid=""
# scripts/etcd_cluster.sh stops its member and removes its data on SIGTERM;
# waited for, as that data is under $tmp.
stop_etcd() {
  [ -n "$etcd_pid" ] || return 0
  kill -TERM "$etcd_pid" 2>/dev/null
  wait "$etcd_pid" 2>/dev/null
  etcd_pid=""
}
cleanup() {
  [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
  [ -n "$standby_pid" ] && kill -KILL "$standby_pid" 2>/dev/null
  stop_etcd
  rm -rf "$tmp"
}
trap cleanup EXIT
status=0

# 1. The engine.
if [ -x "$bin/engine_bench" ]; then
  echo "== engine benchmarks (median of 5)"
  "$bin/engine_bench" --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true \
    --benchmark_out="$results/engine-$(date +%Y%m%d-%H%M%S).json" \
    --benchmark_out_format=json >"$tmp/engine.txt" || status=1
  grep -E '^(Benchmark|-{10,})|_median' "$tmp/engine.txt"
  echo "== engine memory"
  "$bin/engine_memory" || status=1
fi

# 2. The server. 10,000 idle connections need as many descriptors in both
# processes; take what the hard limit allows.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < idle_connections + 200)); then
  idle_connections=$(($(ulimit -n) - 200))
fi

# The HA server's etcd: one member on loopback, from scripts/etcd_cluster.sh,
# which prints its client URL once it is healthy (or gives up after 20 s).
etcd_endpoints=""
if [ "$ha" -eq 1 ]; then
  TMPDIR="$tmp" scripts/etcd_cluster.sh -n 1 >"$tmp/etcd.url" 2>"$tmp/etcd.log" &
  etcd_pid=$!
  for _ in $(seq 300); do
    read -r etcd_endpoints <"$tmp/etcd.url"
    [ -n "$etcd_endpoints" ] && break
    kill -0 "$etcd_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$etcd_endpoints" ]; then
    echo "bench: etcd did not start, the HA columns stay empty:" >&2
    tail -5 "$tmp/etcd.log" >&2
    stop_etcd
    ha=0
  fi
fi
# One group, "bench", initialised as a new cluster (no grace at its first
# start); each run's server stops cleanly, so the next one needs none either.
if [ "$ha" -eq 1 ] && ! "$bin/locktopus" --ha-init --ha-new-cluster \
  --etcd-endpoints "$etcd_endpoints" --ha-group bench >"$tmp/ha-init.log" 2>&1; then
  echo "bench: locktopus --ha-init failed, the HA columns stay empty:" >&2
  cat "$tmp/ha-init.log" >&2
  stop_etcd
  ha=0
fi

# The replicated group's peer token, the same for both of its servers.
peer_token="$tmp/peer.token"
od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$peer_token"
echo >>"$peer_token"

# The TCP port that process $1 listens on, or nothing yet: its sockets'
# inodes (/proc/PID/fd) looked up among the listening sockets (state 0A) of
# its network namespace (/proc/PID/net/tcp and tcp6).
listening_port() {
  local inodes="" fd link hex
  for fd in /proc/"$1"/fd/*; do
    link=$(readlink "$fd" 2>/dev/null) || continue
    [[ $link =~ ^socket:\[([0-9]+)\]$ ]] && inodes+=" ${BASH_REMATCH[1]}"
  done
  [ -n "$inodes" ] || return 0
  hex=$(awk -v inodes="$inodes" '
    BEGIN { n = split(inodes, list, " "); for (i = 1; i <= n; i++) mine[list[i]] = 1 }
    $4 == "0A" && ($10 in mine) { sub(/.*:/, "", $2); print $2; exit }
  ' /proc/"$1"/net/tcp /proc/"$1"/net/tcp6 2>/dev/null)
  [ -n "$hex" ] && echo $((16#$hex))
}

# Starts redis-server, without persistence, on a free port: sets server_pid
# and server_port. Redis cannot be told to pick a port, so one is drawn at
# random and another tried if it is taken.
start_redis() {
  local log="$tmp/server.log" try
  for try in 1 2 3 4 5; do
    server_port=$((20000 + RANDOM % 40000))
    redis-server --port "$server_port" --bind 127.0.0.1 --save "" \
      --appendonly no --daemonize no --logfile "" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
      [ "$(listening_port "$server_pid")" = "$server_port" ] && return 0
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  done
  server_pid=""
  echo "bench: redis-server did not start:" >&2
  tail -5 "$log" >&2
  exit 1
}

# What /readyz of the server on 127.0.0.1:$1 answers, status line and body,
# or nothing if it does not within 2 s.
readyz() {
  timeout 2 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
    cat <&3' _ "$1" 2>/dev/null
}

# Starts `real` (or `session`, the same server for session clients),
# `uring` (the io_uring build's server), `ha` (the real
# server in HA mode, alone in the group "bench"), `repl` (the real server as
# the active of the group "bench", with a standby: start_standby), `floor`,
# `serial` (the serializing floor), `baseline` or `redis` on a free port:
# sets server_pid and server_port. All but the last two write the port to a
# fresh port file once they listen; `ha` and `repl` are started only once
# active (/readyz 200 "serving"), after their election. The baseline may be
# a build from before --port-file: it is found by the socket it listens on
# instead (listening_port), which depends neither on the wording of its log
# nor on a port picked here beforehand staying free until it binds.
start_server() {
  local log="$tmp/server.log" port_file
  if [ "$1" = redis ]; then
    start_redis
    return
  fi
  port_file=$(mktemp "$tmp/port.XXXXXX")
  case "$1" in
    real | session)
      "$bin/locktopus" -H 127.0.0.1 -p 0 --threads "$server_threads" \
        --port-file "$port_file" 2>"$log" &
      ;;
    uring)
      "$uring_bin/locktopus" -H 127.0.0.1 -p 0 --threads "$server_threads" \
        --port-file "$port_file" 2>"$log" &
      ;;
    ha | repl)
      start_ha "$1" "$port_file" "$log"
      ;;
    floor)
      "$bin/locktopus-bench" --floor-server 0 --threads "$server_threads" \
        --port-file "$port_file" 2>"$log" &
      ;;
    serial)
      "$bin/locktopus-bench" --floor-server 0 --serialize \
        --threads "$server_threads" --port-file "$port_file" 2>"$log" &
      ;;
    baseline)
      "$baseline" -H 127.0.0.1 -p 0 --threads "$server_threads" 2>"$log" &
      ;;
  esac
  server_pid=$!
  if [ "$1" = baseline ]; then
    server_port=$(await_port "$server_pid")
  else
    server_port=$(await_port "$server_pid" "$port_file")
  fi
  rm -f "$port_file" "$port_file.tmp"
  if [ -z "$server_port" ]; then
    echo "bench: the $1 server did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  [ "$1" = ha ] || [ "$1" = repl ] || return 0
  local reply=""
  for _ in $(seq 200); do
    reply=$(readyz "$server_port")
    if [[ $reply == "HTTP/1."?" 200 "* && ${reply##*$'\n'} == serving ]]; then
      [ "$1" = repl ] && start_standby
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: the $1 server did not become active (/readyz: ${reply##*$'\n'}):" >&2
  cat "$log" >&2
  exit 1
}

# Starts this tree's server in HA mode in the group "bench", in the
# background, writing its port to $2 and its log to $3: for `repl` (or
# `standby`) with the peer token, so that it replicates.
start_ha() {
  local peer=()
  [ "$1" = ha ] || peer=(--ha-peer-token-file "$peer_token")
  "$bin/locktopus" -H 127.0.0.1 -p 0 --threads "$server_threads" \
    --port-file "$2" --etcd-endpoints "$etcd_endpoints" --ha-group bench \
    "${peer[@]}" 2>"$3" &
}

# The port that process $1 wrote to the port file $2 (or, without $2, the
# one it listens on), once it has, within 10 s; nothing if it has not.
await_port() {
  local port=""
  for _ in $(seq 100); do
    if [ $# -lt 2 ]; then
      port=$(listening_port "$1")
    else
      # Empty until the server renames its complete port file over it.
      read -r port <"$2"
    fi
    [[ $port =~ ^[0-9]+$ ]] && break
    port=""
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  echo "$port"
}

# Whether the group's record in etcd names $1 in its in-sync set; without
# etcdctl, yes.
in_record() {
  command -v etcdctl >/dev/null 2>&1 || return 0
  ETCDCTL_API=3 etcdctl --endpoints "$etcd_endpoints" get --print-value-only \
    /locktopus/bench/record 2>/dev/null | grep -qF "\"name\":\"$1\""
}

# Starts the replicated group's standby beside its active (server_pid, whose
# log is $tmp/server.log): sets standby_pid once the active's log says the
# standby is in the in-sync set and the record names it, within 20 s.
start_standby() {
  local log="$tmp/standby.log" port_file port name
  port_file=$(mktemp "$tmp/port.XXXXXX")
  start_ha standby "$port_file" "$log"
  standby_pid=$!
  port=$(await_port "$standby_pid" "$port_file")
  rm -f "$port_file" "$port_file.tmp"
  name="127.0.0.1:$port"
  for _ in $(seq 200); do
    [ -n "$port" ] || break
    grep -qF "in-sync standbys becoming [$name]" "$tmp/server.log" &&
      in_record "$name" && return 0
    kill -0 "$standby_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: the standby did not come in sync:" >&2
  tail -5 "$log" >&2
  tail -5 "$tmp/server.log" >&2
  exit 1
}

# SIGTERM; the real server exits once no lock is live, which after a clean
# run is at once. A second SIGTERM after 10 s makes it exit with code 1.
# Redis exits at once (nothing to save). A standby goes first: stopped
# after it, the active would hand the group over to it.
stop_server() {
  if [ -n "$standby_pid" ]; then
    stop_process "$standby_pid" "$1 standby" "$tmp/standby.log"
    standby_pid=""
  fi
  stop_process "$server_pid" "$1 server" "$tmp/server.log"
  server_pid=""
}

# Stops process $1, called $2, whose log is $3: fails the benchmark if it
# does not exit with code 0.
stop_process() {
  kill -TERM "$1"
  for _ in $(seq 100); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -TERM "$1" 2>/dev/null
  wait "$1"
  local code=$?
  if [ "$code" -ne 0 ]; then
    echo "bench: the $2 exited with code $code:" >&2
    tail -5 "$3" >&2
    status=1
  fi
}

# Runs the load generator once against `kind` with the given flags; the
# output goes to $runs_dir/$kind.$name.$run. It exits non-zero on an error,
# or a violation where none is expected (all but the always-grant floor).
run_once() {
  local kind=$1 name=$2 run=$3
  shift 3
  local out="$runs_dir/$kind.$name.$run" url
  local expect=()
  [ "$kind" = floor ] && expect=(--violations-expected)
  start_server "$kind"
  url="ws://127.0.0.1:$server_port/v1?namespace=bench"
  [ "$kind" = session ] && url+="&session=new"
  [ "$kind" = redis ] && url="redis://127.0.0.1:$server_port"
  local standby=()
  [ -n "$standby_pid" ] && standby=(--standby-pid "$standby_pid")
  "$bin/locktopus-bench" --url "$url" --server-pid "$server_pid" \
    "${standby[@]}" --threads "$bench_threads" --json "${expect[@]}" "$@" \
    >"$out" 2>&1
  local code=$?
  stop_server "$kind"
  if [ "$code" -ne 0 ]; then
    echo "bench: $kind run of [$name] failed (exit code $code):" >&2
    cat "$out" >&2
    status=1
  fi
}

# name | what | load generator flags | floor: floor (grants at once) or
# serial (one holder per path) | also against Redis (one key per client) |
# also against the server in HA mode | also with session clients | also
# against the replicated group
scenarios=(
  "one|1 client|--clients 1 --keys 1000000|floor|redis|ha|session|repl"
  "distinct|64 clients, distinct paths|--clients 64 --keys 1000000|floor|redis|ha|session|repl"
  "shared|64 clients, 8 paths, 20% reads|--clients 64 --keys 8 --read-ratio 0.2|floor|||"
  "one-path|256 clients, one path (serializing floor)|--clients 256 --keys 1|serial|||"
  "multi|64 clients, 4 resources each|--clients 64 --keys 1000000 --resources 4|floor|||"
)
# etcd stops after the last scenario with the HA server.
last_ha=""
for scenario in "${scenarios[@]}"; do
  IFS='|' read -r name _ _ _ _ with_ha _ with_repl <<<"$scenario"
  [ -n "$with_ha$with_repl" ] && last_ha=$name
done
common=(--depth 2 --duration "$duration" --warmup "$warmup")

# The report's rows: each scenario's name and label, in order.
report=(--report "$runs_dir")
[ -n "$baseline" ] && report+=(--with-baseline)
for scenario in "${scenarios[@]}"; do
  IFS='|' read -r name what flags floor_kind with_redis with_ha with_session \
    with_repl <<<"$scenario"
  read -r -a flag_list <<<"$flags"
  # Session clients right before the plain run, HA and the replicated group
  # right after it: each next to the run it is compared with.
  kinds=()
  [ -n "$with_session" ] && kinds+=(session)
  kinds+=(real)
  [ -n "$with_ha" ] && [ "$ha" -eq 1 ] && kinds+=(ha)
  [ -n "$with_repl" ] && [ "$ha" -eq 1 ] && kinds+=(repl)
  # The plain run times the loopback round trip that the replicated one's
  # latency is held to.
  pings=()
  [ -n "$with_repl" ] && [ "$ha" -eq 1 ] && pings=(--pings 2000)
  [ "$io_uring" -eq 1 ] && kinds+=(uring)
  kinds+=("$floor_kind")
  [ -n "$baseline" ] && kinds+=(baseline)
  [ -n "$with_redis" ] && [ "$redis" -eq 1 ] && kinds+=(redis)
  report+=(--scenario "$name" "$what")
  echo "== $what ($runs × $duration s + $warmup s warm-up, each of: ${kinds[*]})"
  for run in $(seq "$runs"); do
    for kind in "${kinds[@]}"; do
      extra=()
      [ "$kind" = real ] && extra=("${pings[@]}")
      run_once "$kind" "$name" "$run" "${common[@]}" "${count_syscalls[@]}" \
        "${extra[@]}" "${flag_list[@]}"
    done
    echo "   run $run: $("$bin/locktopus-bench" "${report[@]}" --run-line "$name" "$run")"
  done
  [ "$name" = "$last_ha" ] && stop_etcd
done

kinds=(real)
[ "$io_uring" -eq 1 ] && kinds+=(uring)
kinds+=(floor)
[ -n "$baseline" ] && kinds+=(baseline)
echo "== $idle_connections idle connections ($runs × each of: ${kinds[*]})"
for run in $(seq "$runs"); do
  for kind in "${kinds[@]}"; do
    run_once "$kind" idle "$run" --clients 0 --idle "$idle_connections"
  done
done
# The tables and the idle line, from every run's output.
if ! tables=$("$bin/locktopus-bench" "${report[@]}"); then
  echo "bench: the report failed" >&2
  status=1
fi

legend="cycles/s and p50/p99 (lock sent → acquired received) and \
\"cycle p99\" (lock sent → release answered) are Locktopus's; µs/cycle is \
a server's CPU time (user + system) over the measured window divided by the \
cycles in it, \"of it kernel\" its system time (over loopback a send may also \
run the receiving side's TCP work). The floor is the always-grant floor \
server, except for the one-path scenario: the serializing floor (one holder \
per path, a plain FIFO, no engine). Redis: redis-server $(redis-server --version 2>/dev/null | sed -nE 's/.*v=([^ ]+).*/\1/p') \
without persistence, its clients each taking and releasing a lock on a key \
of their own with SET key token NX PX 30000 and redis-py's compare-and-delete \
script (EVALSHA), on the load generator's same threads. io_uring: the \
server of the release-io-uring build (Asio on io_uring instead of epoll), \
under the same load generator; \"io_uring to Redis\" is its CPU per cycle \
over Redis's. HA: this server in HA mode \
(--etcd-endpoints; one etcd $("$etcd_bin" --version 2>/dev/null | sed -nE 's/^etcd Version: //p') \
member on loopback, default --ha-ttl-ms), the only server of the one group \
of a cluster initialised with --ha-init, measured once it is active; each of its runs right after the \
standalone server's; \"HA / standalone\" is its CPU per cycle over the \
standalone server's (its confirmations and lease keep-alives to etcd \
included). Replicated: two such servers in the group with a peer token \
(--ha-peer-token-file), the active measured once the other is its in-sync \
standby, each of its runs right after the HA one's: \"active / \
standalone\" is the active's CPU per cycle over the standalone server's \
(target: at most 1.3 with 64 clients), the standby's CPU per cycle is over \
the same window and cycles, and its one-client whole-cycle p50 is held to \
the standalone p50 plus two loopback round trips, one being the p50 of \
2000 WebSocket pings, one after another, to the standalone server before \
its load. Session: the same server and load with each client in a \
resumable session (session=new), each of its runs right before the plain \
one's; \"session / plain\" is its CPU per cycle over the plain run's. \
Medians of $runs \
run(s) of $duration s after $warmup s warm-up; server, floor and Redis \
$server_threads I/O thread, load generator $bench_threads thread; paths of \
depth 2, hold 0 ms."
kernel_legend="Per cycle, of each server process: system calls (perf stat on \
the raw_syscalls:sys_enter tracepoint, counted over ${syscall_window} s after \
the measured window; \"-\" when not run as root) and context switches of its \
threads over the measured window (/proc/PID/task/*/status). Whole cycle: \
from lock sent to release answered, as each server's clients saw it \
(for Redis: SET sent to the script's answer)."
if [ -n "$baseline" ]; then
  legend+=" Baseline: $baseline, run with the server's flags, each run \
right after the server's and the floor's; \"ratio to baseline\" is \
Locktopus's server µs/cycle over the baseline's."
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
git diff --quiet HEAD 2>/dev/null || commit+=" with uncommitted changes"
machine="$(nproc) cores ($(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -1)), \
$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), \
Linux $(uname -r)"
load_line="load average (1, 5, 15 min) before the server runs: $load_before; after: $load_after"
echo
echo "$tables"
echo "$legend"
echo "$kernel_legend"
echo "$load_line"
{
  echo "# Locktopus benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $commit${baseline:+, baseline $baseline}"
  echo
  echo "Machine: $machine; $load_line."
  echo
  echo "$tables"
  echo
  echo "$legend"
  echo
  echo "$kernel_legend"
} >"$results/latest.md"
echo "(written to bench/results/latest.md)"
[ "$status" -eq 0 ] || echo "bench: FAILED: see the messages above" >&2
exit "$status"
