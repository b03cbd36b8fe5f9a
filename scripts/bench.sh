#!/usr/bin/env bash
# Benchmarks Locktopus: the engine (Google Benchmark, and its bytes per node,
# entry and lock, when engine_bench is built) and the server under load from
# locktopus-bench. Each server scenario runs against the real server and
# against the floor server (same Beast stack, grants everything, no lock
# logic) in turn, each on a fresh process; the table shows medians and is
# also written to bench/results/latest.md.
#
#   scripts/bench.sh           3 runs per scenario, 10 s measured + 2 s warm-up
#   scripts/bench.sh --quick   1 run per scenario, 4 s measured + 1 s warm-up
#   scripts/bench.sh [--quick] --baseline BIN
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
# the floor, violations are expected: it grants conflicting locks together.
# The baseline is held to the same rules as Locktopus.
set -uo pipefail

runs=3
duration=10
warmup=2
baseline=""
usage="usage: scripts/bench.sh [--quick] [--baseline PATH_TO_LOCKTOPUS]"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) runs=1 duration=4 warmup=1 ;;
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
kinds=(real floor)
[ -n "$baseline" ] && kinds+=(baseline)
server_threads=1
bench_threads=1
idle_connections=10000

scripts/setup.sh || exit 1
cmake --preset release >/dev/null || exit 1
targets=(locktopus locktopus-bench)
if cmake --build --preset release --target help 2>/dev/null | grep -q '\bengine_bench\b'; then
  targets+=(engine_bench engine_memory)
fi
cmake --build --preset release -j 2 --target "${targets[@]}" | grep -Ev '^\[[0-9]+/[0-9]+\] '
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "bench: build failed" >&2; exit 1; }

bin="$root/build/release/bin"
results="$root/bench/results"
mkdir -p "$results"
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
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
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < idle_connections + 200)); then
  idle_connections=$(($(ulimit -n) - 200))
fi

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

# Starts `real`, `floor` or `baseline` on a free port: sets server_pid and
# server_port. The first two write the port to a fresh port file once they
# listen. The baseline may be a build from before --port-file: it is found
# by the socket it listens on instead (listening_port), which depends
# neither on the wording of its log nor on a port picked here beforehand
# staying free until it binds.
start_server() {
  local log="$tmp/server.log" port_file
  port_file=$(mktemp "$tmp/port.XXXXXX")
  case "$1" in
    real)
      "$bin/locktopus" -H 127.0.0.1 -p 0 --threads "$server_threads" \
        --port-file "$port_file" 2>"$log" &
      ;;
    floor)
      "$bin/locktopus-bench" --floor-server 0 --threads "$server_threads" \
        --port-file "$port_file" 2>"$log" &
      ;;
    baseline)
      "$baseline" -H 127.0.0.1 -p 0 --threads "$server_threads" 2>"$log" &
      ;;
  esac
  server_pid=$!
  server_port=""
  for _ in $(seq 100); do
    if [ "$1" = baseline ]; then
      server_port=$(listening_port "$server_pid")
    else
      # Empty until the server renames its complete port file over it.
      read -r server_port <"$port_file"
    fi
    [[ $server_port =~ ^[0-9]+$ ]] && break
    server_port=""
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$port_file" "$port_file.tmp"
  if [ -z "$server_port" ]; then
    echo "bench: the $1 server did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
}

# SIGTERM; the real server exits once no lock is live, which after a clean
# run is at once. A second SIGTERM after 10 s makes it exit with code 1.
stop_server() {
  kill -TERM "$server_pid"
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -TERM "$server_pid" 2>/dev/null
  wait "$server_pid"
  local code=$?
  server_pid=""
  if [ "$code" -ne 0 ]; then
    echo "bench: the $1 server exited with code $code:" >&2
    tail -5 "$tmp/server.log" >&2
    status=1
  fi
}

# A number from the JSON line of a bench output; "null" if absent.
field() {
  local v
  v=$(grep '^{' "$1" | sed -nE "s/.*\"$2\":([^,}]*).*/\1/p")
  echo "${v:-null}"
}

# The median of the numbers given (null ignored); "null" if none.
median() {
  printf '%s\n' "$@" | grep -v '^null$' | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) print "null"; else print v[int((NR + 1) / 2)]}'
}

# One field of every run of `kind` in scenario `name`.
collect() {
  local kind=$1 name=$2 key=$3 run
  for run in $(seq "$runs"); do field "$tmp/$kind.$name.$run" "$key"; done
}

# Runs the load generator once against `kind` with the given flags; the
# output goes to $tmp/$kind.$name.$run.
run_once() {
  local kind=$1 name=$2 run=$3
  shift 3
  local out="$tmp/$kind.$name.$run"
  start_server "$kind"
  "$bin/locktopus-bench" --url "ws://127.0.0.1:$server_port/v1?namespace=bench" \
    --server-pid "$server_pid" --threads "$bench_threads" --json "$@" >"$out" 2>&1
  local code=$?
  stop_server "$kind"
  local errors violations
  errors=$(field "$out" errors)
  violations=$(field "$out" violations)
  if [ "$errors" = null ]; then
    echo "bench: $kind run of [$name] gave no result (exit code $code):" >&2
    cat "$out" >&2
    status=1
  elif [ "$errors" != 0 ] || { [ "$kind" != floor ] && [ "$violations" != 0 ]; }; then
    echo "bench: $kind run of [$name]: $errors errors, $violations violations:" >&2
    cat "$out" >&2
    status=1
  fi
}

# name | what | load generator flags
scenarios=(
  "one|1 client|--clients 1 --keys 1000000"
  "distinct|64 clients, distinct paths|--clients 64 --keys 1000000"
  "shared|64 clients, 8 paths, 20% reads|--clients 64 --keys 8 --read-ratio 0.2"
  "one-path|256 clients, one path|--clients 256 --keys 1"
  "multi|64 clients, 4 resources each|--clients 64 --keys 1000000 --resources 4"
)
common=(--depth 2 --duration "$duration" --warmup "$warmup")

table="$tmp/table.md"
header="| scenario | cycles/s | p50 µs | p99 µs | server µs/cycle | of it kernel | floor µs/cycle | of it kernel | ratio to floor |"
rule="|---|---:|---:|---:|---:|---:|---:|---:|---:|"
if [ -n "$baseline" ]; then
  header+=" baseline µs/cycle | ratio to baseline |"
  rule+="---:|---:|"
fi
printf '%s\n%s\n' "$header" "$rule" >"$table"

for scenario in "${scenarios[@]}"; do
  IFS='|' read -r name what flags <<<"$scenario"
  read -r -a flag_list <<<"$flags"
  echo "== $what ($runs × $duration s + $warmup s warm-up, each server)"
  for run in $(seq "$runs"); do
    for kind in "${kinds[@]}"; do
      run_once "$kind" "$name" "$run" "${common[@]}" "${flag_list[@]}"
    done
    line=$(printf '   run %s: locktopus %.0f cycles/s, floor %.0f cycles/s' "$run" \
      "$(field "$tmp/real.$name.$run" cycles_per_s)" \
      "$(field "$tmp/floor.$name.$run" cycles_per_s)")
    if [ -n "$baseline" ]; then
      line+=$(printf ', baseline %.0f cycles/s' \
        "$(field "$tmp/baseline.$name.$run" cycles_per_s)")
    fi
    echo "$line"
  done
  bcpu=""
  if [ -n "$baseline" ]; then
    bcpu=$(median $(collect baseline "$name" server_cpu_us_per_cycle))
  fi
  awk -v what="$what" \
    -v rate="$(median $(collect real "$name" cycles_per_s))" \
    -v p50="$(median $(collect real "$name" acquire_p50_us))" \
    -v p99="$(median $(collect real "$name" acquire_p99_us))" \
    -v cpu="$(median $(collect real "$name" server_cpu_us_per_cycle))" \
    -v sys="$(median $(collect real "$name" server_system_us_per_cycle))" \
    -v fcpu="$(median $(collect floor "$name" server_cpu_us_per_cycle))" \
    -v fsys="$(median $(collect floor "$name" server_system_us_per_cycle))" \
    -v bcpu="$bcpu" '
    function fmt(v, decimals) { return v == "null" ? "-" : sprintf("%." decimals "f", v) }
    function ratio(a, b) { return (a != "null" && b != "null" && b > 0) ? fmt(a / b, 2) : "-" }
    BEGIN {
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |", what, fmt(rate, 0),
        fmt(p50, 0), fmt(p99, 0), fmt(cpu, 1), fmt(sys, 1), fmt(fcpu, 1),
        fmt(fsys, 1), ratio(cpu, fcpu)
      if (bcpu != "") printf " %s | %s |", fmt(bcpu, 1), ratio(cpu, bcpu)
      printf "\n"
    }' >>"$table"
done

echo "== $idle_connections idle connections ($runs × each server)"
for run in $(seq "$runs"); do
  for kind in "${kinds[@]}"; do
    run_once "$kind" idle "$run" --clients 0 --idle "$idle_connections"
  done
done
bidle=""
if [ -n "$baseline" ]; then
  bidle=$(median $(collect baseline idle idle_bytes_per_connection))
fi
idle_line=$(awk -v n="$idle_connections" \
  -v real="$(median $(collect real idle idle_bytes_per_connection))" \
  -v floor="$(median $(collect floor idle idle_bytes_per_connection))" \
  -v baseline="$bidle" 'BEGIN {
    printf "idle memory: %d connections: locktopus %.0f bytes each, floor %.0f bytes each", n, real, floor
    if (baseline != "") printf ", baseline %.0f bytes each", baseline
    printf " (server RSS growth / connections)\n"
  }')

legend="cycles/s and p50/p99 (lock sent → acquired received) are Locktopus's; \
µs/cycle is the server's CPU time (user + system) over the measured window \
divided by the cycles in it, \"of it kernel\" its system time (over loopback \
a send may also run the receiving side's TCP work). Medians of $runs run(s) of $duration s after \
$warmup s warm-up; server and floor $server_threads I/O thread, load \
generator $bench_threads thread; paths of depth 2, hold 0 ms."
if [ -n "$baseline" ]; then
  legend+=" Baseline: $baseline, run with the server's flags, each run \
right after the server's and the floor's; \"ratio to baseline\" is \
Locktopus's server µs/cycle over the baseline's."
fi
echo
cat "$table"
echo "$idle_line"
echo "$legend"
{
  echo "# Locktopus benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores${baseline:+, baseline $baseline}"
  echo
  cat "$table"
  echo
  echo "$idle_line"
  echo
  echo "$legend"
} >"$results/latest.md"
echo "(written to bench/results/latest.md)"
[ "$status" -eq 0 ] || echo "bench: FAILED: see the messages above" >&2
exit "$status"
