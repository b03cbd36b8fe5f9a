# Shared by the packaging tests: start a locktopus binary on a free port.

# start_server BIN LOG: runs BIN on 127.0.0.1, a free port; sets server_pid
# and server_port once it listens (BIN writes the port to a fresh port file).
start_server() {
  local port_file
  port_file=$(mktemp)
  "$1" -H 127.0.0.1 -p 0 --port-file "$port_file" 2>"$2" &
  server_pid=$!
  server_port=
  for _ in $(seq 1 200); do
    # Empty until the server renames its complete port file over it.
    read -r server_port <"$port_file" || true
    [[ $server_port =~ ^[0-9]+$ ]] && break
    server_port=
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  rm -f "$port_file" "$port_file.tmp"
  [ -n "$server_port" ] && return 0
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
