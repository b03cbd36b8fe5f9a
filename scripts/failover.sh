#!/usr/bin/env bash
# Failover test: an HA cluster on loopback (3 etcd members, 2 groups of 2
# servers under supervisors, HAProxy in front) under ~100 clients, one fault
# per round: kill -9 of an active, SIGSTOP of an active past the grace, an
# active cut off from etcd, kill -9 of etcd's leader, a clean switchover,
# kill -9 of one group's active while the other group runs. Checks that no
# two clients ever held conflicting locks at once (a client that lost its
# connection "uses" its lock for its abandon timeout), that fencing tokens
# never go back, and the recovery bounds of each fault. The driver is
# tests/failover/failover.mjs.
#
#   scripts/failover.sh [--rounds N] [--preset release|asan|tsan] [--bin PATH] [driver options]
#
# The last line is
#   failover: rounds R, faults F, violations V, id-regressions I, max-unavailable-ms M; ...
# and the exit status is 0 only if every check held.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

parse_args -- "$@"
# etcd and HAProxy are needed even with --bin.
run_setup
server_binary
exec node "$root/tests/failover/failover.mjs" --bin "$bin" "${args[@]}"
