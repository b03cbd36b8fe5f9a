# Sourced by the scripts that run a test driver against one server binary
# (chaos.sh, churn.sh, failover.sh, soak.sh): their common command line,
# and how they come by the binary. Sourcing it sets `root` to the top of the
# tree, goes there, and sets `name` to the script's name (chaos, ...), the
# prefix of its messages.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
name=$(basename "$0" .sh)

# Prints the leading comment of the script, its --help.
usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

# parse_args [OPTION...] -- "$@": the script's command line. --preset P
# and --bin PATH set `preset` (release unless given) and `bin`; each OPTION
# listed is one of the script's own, --OPTION VALUE, and sets the variable
# of that name. Each may also be written --OPTION=VALUE. -h or --help prints
# the script's leading comment and exits. Every other word goes, in order,
# into `args`, for the driver.
parse_args() {
  local options=(preset bin) word option
  while [ "$1" != -- ]; do options+=("$1"); shift; done
  shift
  preset=release
  bin=""
  args=()
  while (($#)); do
    word=$1
    shift
    case "$word" in -h | --help) usage; exit 0 ;; esac
    for option in "${options[@]}"; do
      if [ "$word" = "--$option" ]; then
        printf -v "$option" '%s' "$1"
        shift
        continue 2
      elif [[ $word == --$option=* ]]; then
        printf -v "$option" '%s' "${word#*=}"
        continue 2
      fi
    done
    args+=("$word")
  done
}

# Runs scripts/setup.sh, once per script run.
setup_done=false
run_setup() {
  $setup_done || scripts/setup.sh
  setup_done=true
}

# Sets `bin` to the server to run: the --bin given as it is, or else the
# server of `preset`, built first (after scripts/setup.sh). Exits 2 on an
# unknown preset or where there is no binary, 1 if the build fails.
server_binary() {
  if [ -z "$bin" ]; then
    case "$preset" in
      release | asan | tsan) ;;
      *) echo "$name: unknown preset $preset" >&2; exit 2 ;;
    esac
    run_setup
    cmake --preset "$preset" >/dev/null
    local out
    if ! out=$(cmake --build --preset "$preset" --target locktopus 2>&1); then
      echo "$out" | tail -40
      echo "$name: build failed" >&2
      exit 1
    fi
    bin="$root/build/$preset/bin/locktopus"
  fi
  [ -x "$bin" ] || { echo "$name: no server binary at $bin" >&2; exit 2; }
}

# Prints the sanitizer `bin` was built with (thread or address), or nothing.
server_sanitizer() {
  if grep -aq __tsan_init "$bin"; then
    echo thread
  elif grep -aq __asan_init "$bin"; then
    echo address
  fi
}
