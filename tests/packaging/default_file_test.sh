#!/usr/bin/env bash
# packaging/locktopus.default against the server it configures:
# - it names every LOCKTOPUS_* variable of `locktopus --help` once, and no
#   other;
# - a commented line shows the default --help shows (the lock-memory one
#   depends on the machine);
# - the package's LOCKTOPUS_STATE_DIR is the unit's StateDirectory, and its
#   LOCKTOPUS_MAX_ABANDON_TIMEOUT ends within the unit's TimeoutStopSec;
# - the server starts with every line uncommented that has a default, and
#   the package's settings.
#   default_file_test.sh LOCKTOPUS_BIN SOURCE_DIR
set -euo pipefail
bin=$(realpath "$1") src=$(cd "$2" && pwd)
file=$src/packaging/locktopus.default
unit=$src/packaging/locktopus.service
. "$src/tests/packaging/common.sh"
tmp=$(mktemp -d)
trap 'stop_server; rm -rf "$tmp"' EXIT
fail() {
  echo "$file: $*" >&2
  exit 1
}

# VARIABLE DEFAULT per line of --help ("-" when it shows none), as in
#   --port UINT:0..65535=9009 (Env:LOCKTOPUS_PORT)
#   --log-clients BOOLEAN=0 (Env:LOCKTOPUS_LOG_CLIENTS)
help=$("$bin" --help)
declare -A help_default=()
while read -r line; do
  var=$(grep -oP '\(Env:\KLOCKTOPUS_[A-Z0-9_]+' <<<"$line")
  value=$(grep -oP '=\K[^ =]*(?= \(Env:)' <<<"$line" || true)
  if [[ $line =~ " BOOLEAN=" ]]; then
    case $value in 0) value=false ;; 1) value=true ;; esac
  fi
  help_default[$var]=${value:--}
done < <(grep '(Env:LOCKTOPUS_' <<<"$help")
((${#help_default[@]} >= 20)) || { echo "--help lists too few variables:" >&2; echo "$help" >&2; exit 1; }

# The file's assignments, set or commented out.
declare -A seen=() set_value=()
uncommented=()
while IFS= read -r line; do
  [[ $line =~ ^(#?)(LOCKTOPUS_[A-Z0-9_]+)=(.*)$ ]] || continue
  commented=${BASH_REMATCH[1]} var=${BASH_REMATCH[2]} value=${BASH_REMATCH[3]}
  [ -n "${help_default[$var]+x}" ] || fail "$var is not a variable of locktopus --help"
  [ -z "${seen[$var]+x}" ] || fail "$var is there twice"
  seen[$var]=1
  want=${help_default[$var]}
  if [ -z "$commented" ]; then
    set_value[$var]=$value
  elif [ "$var" != LOCKTOPUS_MAX_LOCK_MEMORY ]; then
    # (Whose default is a quarter of this machine's memory.) Without a
    # default the line shows an example: a path, a URL.
    [ "$want" = - ] && continue
    [ "$value" = "$want" ] || fail "#$var=$value, but its default is $want"
  fi
  uncommented+=("$var=$value")
done <"$file"
for var in "${!help_default[@]}"; do
  [ -n "${seen[$var]+x}" ] || fail "no $var (locktopus --help reads it)"
done

# The package's choices fit its unit.
state_directory=$(sed -n 's/^StateDirectory=//p' "$unit")
[ "${set_value[LOCKTOPUS_STATE_DIR]:-}" = "/var/lib/$state_directory" ] ||
  fail "LOCKTOPUS_STATE_DIR is not /var/lib/$state_directory, the unit's StateDirectory"
stop_s=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$unit")
abandon_ms=${set_value[LOCKTOPUS_MAX_ABANDON_TIMEOUT]:-}
[[ $stop_s =~ ^[0-9]+$ && $abandon_ms =~ ^[0-9]+$ ]] ||
  fail "no LOCKTOPUS_MAX_ABANDON_TIMEOUT, or no TimeoutStopSec=SECONDS in $unit"
((abandon_ms < stop_s * 1000)) ||
  fail "LOCKTOPUS_MAX_ABANDON_TIMEOUT=$abandon_ms ms outlasts the unit's TimeoutStopSec=$stop_s"

# Every value the file gives starts the server (the state directory made
# here; -H, -p and --port-file override the address).
export "${uncommented[@]}" LOCKTOPUS_STATE_DIR="$tmp/state"
mkdir "$tmp/state"
start_server "$bin" "$tmp/server.log"
reply=$(http_get "$server_port" /healthz)
grep -q "^HTTP/1.1 200" <<<"$reply" || { echo "$reply" >&2; exit 1; }
[ -s "$tmp/state/record" ] || { echo "no record in the state directory" >&2; exit 1; }
echo "${#seen[@]} variables, as locktopus --help lists them"
