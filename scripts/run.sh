#!/usr/bin/env bash
# Sets up, builds the release preset and runs the server in the foreground.
# Every argument is passed to the server: scripts/run.sh --port 9010
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release
exec "$root/build/release/bin/locktopus" "$@"
