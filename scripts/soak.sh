#!/usr/bin/env bash
# Soak test: steady mixed load on the server for a long time, with the chaos
# driver (tests/chaos/) in a low-fault mode (a fault in 500 lock cycles, no
# SIGSTOP), sampling the server's VmRSS and open descriptors every 5 s.
# After a warm-up (a fifth of the run, at most 60 s) the samples are cut in
# thirds; the run fails if the smallest sample of the last third exceeds the
# largest of the first third by more than a margin (RSS: 5 % or 2 MiB,
# descriptors: 5 % or 8), or if any chaos check fails. Not run in CI.
#
#   scripts/soak.sh --minutes N [--preset release|asan|tsan] [--bin PATH] [driver options]
#
# Prints every sample, then the chaos line and last
#   soak: S samples, rss ..., fds ...; ok|FAIL
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

minutes=30
args=()
while (($#)); do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --minutes=*) minutes=${1#*=}; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ $minutes =~ ^[0-9]+$ ]] && ((minutes > 0)) || { echo "soak: --minutes must be a positive integer" >&2; exit 2; }

exec "$root/scripts/chaos.sh" --seconds $((minutes * 60)) --soak \
  --fault-rate 0.002 --freeze false --sample-seconds 5 "${args[@]}"
