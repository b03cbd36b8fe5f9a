#!/usr/bin/env bash
# Soak test: steady mixed load on the server for a long time, with the chaos
# driver (tests/chaos/) in a low-fault mode (a fault, and for session
# clients a blip, in 500 lock cycles, no SIGSTOP), sampling the server's
# VmRSS and open descriptors every 5 s.
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
source "$(dirname "$0")/lib/common.sh"

minutes=30
parse_args minutes -- "$@"
[[ $minutes =~ ^[0-9]+$ ]] && ((minutes > 0)) || { echo "soak: --minutes must be a positive integer" >&2; exit 2; }

# chaos.sh builds the preset's server where --bin is empty.
exec "$root/scripts/chaos.sh" --preset "$preset" --bin "$bin" --seconds $((minutes * 60)) \
  --soak --fault-rate 0.002 --blip-rate 0.002 --freeze false --sample-seconds 5 "${args[@]}"
