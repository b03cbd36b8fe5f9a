#!/usr/bin/env bash
# The server under what packaging/locktopus.service's sandbox takes away,
# without systemd: as a user of no account with no capabilities, its secret
# files owned by that user (as LoadCredential= copies them), a /proc mounted
# as ProtectProc=invisible and ProcSubset=pid mount it, and its state
# directory the only place written. It starts with the package's settings,
# TLS and a token file, serves a lock, rereads its tokens on SIGHUP and
# stops cleanly on SIGTERM; strace records its system calls, which must all
# be ones the unit's SystemCallFilter= allows (a call outside it would fail
# with EPERM under systemd), and it opens nothing in /proc but its own.
# Needs root (for the namespaces), unshare, setpriv, strace, openssl and
# systemd-analyze; skipped (77) without them.
#   systemd_sandbox_test.sh LOCKTOPUS_BIN LOCKTOPUSCTL_BIN SOURCE_DIR
set -euo pipefail
bin=$(realpath "$1") ctl=$(realpath "$2") src=$(cd "$3" && pwd)
unit=$src/packaging/locktopus.service
for tool in unshare setpriv strace openssl systemd-analyze; do
  command -v "$tool" >/dev/null || { echo "no $tool: skipped"; exit 77; }
done
[ "$(id -u)" -eq 0 ] || { echo "not root: skipped"; exit 77; }
# A user ID in systemd's dynamic range that names no account.
uid=61999
! getent passwd "$uid" >/dev/null || { echo "user $uid exists: skipped"; exit 77; }
tmp=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
if ! unshare --pid --fork --mount true 2>/dev/null; then
  echo "cannot make namespaces here: skipped"
  exit 77
fi

# The system calls the unit allows: its SystemCallFilter= lines in order,
# an allow list (its groups expanded) less the ~ lists that follow.
expand() {
  local name
  for name in "$@"; do
    case $name in
      @*) expand $(systemd-analyze syscall-filter "$name" | sed -n '2,$p' |
                   sed 's/^ *//; /^#/d; /^$/d') ;;
      *) echo "$name" ;;
    esac
  done
}
: >"$tmp/allowed"
while read -r filter; do
  if [[ $filter == "~"* ]]; then
    expand ${filter#\~} | sort -u >"$tmp/denied"
    comm -23 "$tmp/allowed" "$tmp/denied" >"$tmp/left"
    mv "$tmp/left" "$tmp/allowed"
  else
    { cat "$tmp/allowed"; expand $filter; } | sort -u >"$tmp/merged"
    mv "$tmp/merged" "$tmp/allowed"
  fi
done < <(sed -n 's/^SystemCallFilter=//p' "$unit")
[ -s "$tmp/allowed" ] || { echo "no SystemCallFilter= in $unit" >&2; exit 1; }

# The credentials and the state directory, the dynamic user's.
chmod 0711 "$tmp"
mkdir -m 0700 "$tmp/creds" "$tmp/state"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$tmp/creds/tls-key" \
  -out "$tmp/creds/tls-cert" 2>/dev/null
cp "$tmp/creds/tls-cert" "$tmp/ca.pem"
echo sandbox-token >"$tmp/creds/tokens"
chown -R "$uid:$uid" "$tmp/creds" "$tmp/state"
chmod 0400 "$tmp/creds"/*

settings=()
while IFS= read -r line; do settings+=("$line"); done < <(grep '^LOCKTOPUS_' \
  "$src/packaging/locktopus.default")
settings+=("LOCKTOPUS_STATE_DIR=$tmp/state"
           "LOCKTOPUS_AUTH_TOKEN_FILE=$tmp/creds/tokens"
           "LOCKTOPUS_TLS_CERT=$tmp/creds/tls-cert"
           "LOCKTOPUS_TLS_KEY=$tmp/creds/tls-key")
unshare --pid --fork --mount --propagation private sh -c '
  mount -t proc -o hidepid=invisible,subset=pid proc /proc || exit 70
  exec strace -f -qq -o "$@"' sh "$tmp/trace" \
  setpriv --reuid="$uid" --regid="$uid" --clear-groups --inh-caps=-all \
  --bounding-set=-all --no-new-privs \
  env -i "${settings[@]}" "$bin" -H 127.0.0.1 -p 0 --port-file "$tmp/state/port" \
  2>"$tmp/server.log" &
runner=$!
port=
for _ in $(seq 1 200); do
  { read -r port <"$tmp/state/port"; } 2>/dev/null || true
  [[ $port =~ ^[0-9]+$ ]] && break
  port=
  kill -0 "$runner" 2>/dev/null || break
  sleep 0.05
done
if [ -z "$port" ]; then
  wait "$runner" && code=0 || code=$?
  [ "$code" -eq 70 ] && { echo "cannot mount /proc here: skipped"; exit 77; }
  echo "the server did not start (exit $code):" >&2
  cat "$tmp/server.log" >&2
  exit 1
fi
server_pid=$(pgrep -u "$uid" -f -- "--port-file $tmp/state/port")

export LOCKTOPUS_TOKEN=sandbox-token LOCKTOPUS_CA_FILE=$tmp/ca.pem
out=$("$ctl" --tls --port "$port" lock -w sandbox/a -- echo held)
grep -qx held <<<"$out"
"$ctl" --tls --port "$port" status | grep -q "^State: *serving"
kill -HUP "$server_pid"
for _ in $(seq 1 100); do
  grep -q "SIGHUP: reloaded 1 tokens" "$tmp/server.log" && break
  sleep 0.05
done
kill -TERM "$server_pid"
wait "$runner" && code=0 || code=$?
server_pid=
cat "$tmp/server.log"
[ "$code" -eq 0 ] || { echo "the server exited $code" >&2; exit 1; }
grep -q "SIGHUP: reloaded 1 tokens" "$tmp/server.log"
grep -q "stopped cleanly" "$tmp/server.log"

# The server's calls: those after it was executed.
awk -v bin="$bin" 'index($0, "execve(\"" bin "\"") { on = 1 } on' "$tmp/trace" >"$tmp/server.trace"
grep -oP '^[0-9]+ +\K[a-z0-9_]+(?=\()' "$tmp/server.trace" | sort -u >"$tmp/used"
[ -s "$tmp/used" ] || { echo "no system calls traced" >&2; exit 1; }
if outside=$(comm -23 "$tmp/used" "$tmp/allowed") && [ -n "$outside" ]; then
  echo "system calls the unit's SystemCallFilter= refuses:" $outside >&2
  exit 1
fi
if grep -P 'open(at)?\(.*"/proc/(?!self/|thread-self/)' "$tmp/server.trace"; then
  echo "opens /proc files that ProcSubset=pid hides" >&2
  exit 1
fi
echo "$(wc -l <"$tmp/used") system calls, all in the unit's SystemCallFilter="
