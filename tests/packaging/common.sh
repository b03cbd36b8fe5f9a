# Shared by the packaging tests: start a locktopus binary on a free port.

# start_server BIN LOG: runs BIN on 127.0.0.1, a free port; sets server_pid
# and server_port once it listens.
start_server() {
  "$1" -H 127.0.0.1 -p 0 2>"$2" &
  server_pid=$!
  for _ in $(seq 1 200); do
    server_port=$(sed -n 's/.*listening on [^ ]*:\([0-9]\+\).*/\1/p' "$2")
    [ -n "$server_port" ] && return 0
    sleep 0.05
  done
  echo "server did not start:" >&2
  cat "$2" >&2
  return 1
}

stop_server() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  server_pid=
}

# http_get PORT TARGET: the raw HTTP response.
http_get() {
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
  cat <&3
  exec 3<&-
}
