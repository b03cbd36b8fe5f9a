#!/usr/bin/env bash
# Failover test: an HA cluster on loopback (3 etcd members, 2 groups of 2
# replicating servers under supervisors, HAProxy in front) under ~100
# session clients, one fault per round: kill -9 of an active, of a standby,
# of an active whose standby is catching up, SIGSTOP of an active past the
# grace, the replication stream cut, an active cut off from etcd, kill -9 of
# etcd's leader, a clean switchover, kill -9 of one group's active while the
# other group runs, requests to the wrong group, a lost record. Clients
# resume their sessions after every fault. Checks that no two clients ever
# held conflicting locks at once (a client that lost its connection "uses"
# its lock until the server confirms it or its window has passed), that
# fencing tokens never go back, that no client resuming within its window
# finds its lock gone or changed (but after a degraded takeover), and the
# recovery bounds of each fault. The driver is tests/failover/failover.mjs
# (--help lists its options, --faults the kinds to run).
#
#   scripts/failover.sh [--rounds N] [--preset release|asan|tsan] [--bin PATH] [driver options]
#
# The last line is
#   failover: rounds R, faults F, violations V, id-regressions I, lost L, max-unavailable-ms M; ...
# and the exit status is 0 only if every check held.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

parse_args -- "$@"
# etcd and HAProxy are needed even with --bin.
run_setup
server_binary
exec node "$root/tests/failover/failover.mjs" --bin "$bin" "${args[@]}"
