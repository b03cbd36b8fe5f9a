#!/usr/bin/env bash
# Namespace churn: many distinct namespaces, each used once by one
# connection and left idle, against one server; then checks that they gave
# everything back (RSS within a bound of its baseline, per namespace and in
# all; none left open; /stats_v1 of one answers 404; the status page small;
# IDs of a namespace opened again continue above its last). The driver is
# tests/churn/churn.mjs.
#
#   scripts/churn.sh [--namespaces N] [--preset release|asan|tsan] [--bin PATH] [driver options]
#   scripts/churn.sh --namespaces 1000000     # the million: RSS within 16 MiB
#
# --preset builds that preset's server (default release); --bin runs the
# given binary as it is. Under a sanitizer build the RSS is not checked.
# The last line is `churn: namespaces N, ...; ok` (or FAIL), and the exit
# status says the same.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

parse_args -- "$@"
server_binary

# Sanitizer allocators keep freed memory on purpose: RSS means nothing there.
if [ -n "$(server_sanitizer)" ]; then args=(--no-rss "${args[@]}"); fi
exec node "$root/tests/churn/churn.mjs" --bin "$bin" "${args[@]}"
