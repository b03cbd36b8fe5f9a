#!/usr/bin/env bash
# Writes an HAProxy configuration for Locktopus groups to stdout, from
# locktopus.cfg.in. Group K (from 0) is the K-th --group, a comma-separated
# list of its servers (HOST:PORT); the number of groups fixes every
# namespace's group, so keep the list and its order as they are while any
# lock is live.
#
#   packaging/haproxy/render.sh --listen ADDR:PORT --group HOST:PORT[,HOST:PORT...] [--group ...]
#       [--ha-groups NAME,NAME...] [--lua FILE] [--inter MS] [--fall N] [--rise N]
#       [--stats-socket PATH]
#
#   --ha-groups     the groups' names, in --group order: the servers' own
#                   --ha-groups value, which must be exactly this list (a
#                   server refuses another group's namespace with 421);
#                   checked to name as many groups as --group gives
#   --lua           where HAProxy finds locktopus_namespace.lua (default: the
#                   one beside this script)
#   --inter, --fall, --rise
#                   health checks of /readyz: every MS ms (default 1000); a
#                   server is out after N failed checks (default 2), back
#                   after N good ones (default 2)
#   --stats-socket  HAProxy's admin socket (show stat, show servers state)
#
# e.g. two groups of an active and a standby each:
#   render.sh --listen 0.0.0.0:9009 --group 10.0.0.1:9009,10.0.0.2:9009 \
#     --group 10.0.1.1:9009,10.0.1.2:9009 >/etc/haproxy/haproxy.cfg
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

listen=""
lua="$here/locktopus_namespace.lua"
inter=1000
fall=2
rise=2
stats_socket=""
groups=()
names=""
usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case "$1" in
    --listen) listen=$2; shift 2 ;;
    --group) groups+=("$2"); shift 2 ;;
    --ha-groups) names=$2; shift 2 ;;
    --lua) lua=$2; shift 2 ;;
    --inter) inter=$2; shift 2 ;;
    --fall) fall=$2; shift 2 ;;
    --rise) rise=$2; shift 2 ;;
    --stats-socket) stats_socket=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "render: unknown argument $1" >&2; usage ;;
  esac
done
[ -n "$listen" ] || { echo "render: --listen is required" >&2; exit 2; }
((${#groups[@]})) || { echo "render: at least one --group is required" >&2; exit 2; }
for n in "$inter" "$fall" "$rise"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "render: --inter, --fall and --rise take positive integers" >&2; exit 2; }
done
if [ -n "$names" ]; then
  IFS=, read -r -a name_list <<<"$names"
  if ((${#name_list[@]} != ${#groups[@]})); then
    echo "render: --ha-groups names ${#name_list[@]} groups, --group gives ${#groups[@]}" >&2
    exit 2
  fi
  for n in "${name_list[@]}"; do
    [[ $n =~ ^[A-Za-z0-9_.:-]+$ ]] || { echo "render: --ha-groups: unsupported group name '$n'" >&2; exit 2; }
  done
fi
# HAProxy parses the config with its own quoting rules: keep paths plain.
for p in "$lua" "$stats_socket" "$listen"; do
  [[ $p =~ ^[A-Za-z0-9_./:@+-]*$ ]] || { echo "render: unsupported character in $p" >&2; exit 2; }
done

global_extra=""
[ -z "$stats_socket" ] || global_extra="    stats socket $stats_socket mode 600 level admin"

for k in "${!groups[@]}"; do
  IFS=, read -r -a list <<<"${groups[k]}"
  ((${#list[@]})) || { echo "render: group $k has no server" >&2; exit 2; }
  for addr in "${list[@]}"; do
    [[ $addr =~ ^[A-Za-z0-9_.:-]+:[0-9]+$ ]] || { echo "render: group $k: $addr is not HOST:PORT" >&2; exit 2; }
  done
done

# The servers of group $1, one line each.
servers() {
  local k=$1 i=0 addr
  local -a list
  IFS=, read -r -a list <<<"${groups[k]}"
  for addr in "${list[@]}"; do
    printf '    server g%ds%d %s check\n' "$k" "$i" "$addr"
    i=$((i + 1))
  done
}

subst() {
  local line=$1
  line=${line//@LUA@/$lua}
  line=${line//@LISTEN@/$listen}
  line=${line//@GROUPS@/${#groups[@]}}
  line=${line//@INTER@/$inter}
  line=${line//@FALL@/$fall}
  line=${line//@RISE@/$rise}
  printf '%s\n' "$line"
}

in_block=0
block=()
while IFS= read -r line || [ -n "$line" ]; do
  if [ "$line" = "#@group-begin" ]; then in_block=1; continue; fi
  if [ "$line" = "#@group-end" ]; then
    in_block=0
    for k in "${!groups[@]}"; do
      for b in "${block[@]}"; do
        if [ "$b" = "@SERVERS@" ]; then servers "$k"; else subst "${b//@K@/$k}"; fi
      done
      echo
    done
    continue
  fi
  if ((in_block)); then block+=("$line"); continue; fi
  if [ "$line" = "#@shard-map" ]; then
    echo "# Shard map: ${#groups[@]} groups${names:+, --ha-groups $names}"
    continue
  fi
  if [ "$line" = "@GLOBAL_EXTRA@" ]; then
    [ -z "$global_extra" ] || echo "$global_extra"
    continue
  fi
  subst "$line"
done <"$here/locktopus.cfg.in"
