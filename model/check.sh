#!/usr/bin/env bash
# Checks the replication protocol's Promela model (model/replication.pml)
# with SPIN: an exhaustive search of every state at each bound below
# (spin -a, pan compiled with -O2, no bitstate hashing), which must end with
# no error and no truncated depth. With --mutant, applies a seeded bug
# (model/mutants/*.patch, patch -p1 from the repository's root) to a copy of
# the model and checks that SPIN finds a violation at one of the bounds.
#
#   model/check.sh [BOUND...]                 the model, at every bound or some
#   model/check.sh --mutant PATCH [BOUND...]  the mutant must be killed
#
# Bounds: servers, crashes or lease losses, and where they differ from the
# model's defaults (model/replication.pml), log length, requests per client
# and resource, and configuration changes per epoch. Larger ones run the
# same way, e.g. spin -DNS=3 -DFAULTS=2 -DKMAX=1 -a model/replication.pml.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

declare -A bounds=(
  [ns2]="-DNS=2 -DFAULTS=2"
  [ns3]="-DNS=3 -DFAULTS=1 -DVERMAX=3"
  [ns3_f2]="-DNS=3 -DFAULTS=2 -DLOGMAX=2 -DKMAX=1"
  [ns2_f3]="-DNS=2 -DFAULTS=3 -DKMAX=1"
)
order=(ns2 ns3 ns3_f2 ns2_f3)

mutant=
if [ "${1:-}" = --mutant ]; then
  mutant=$(realpath "$2")
  shift 2
fi
(($#)) && order=("$@")
for b in "${order[@]}"; do
  [ -n "${bounds[$b]:-}" ] || { echo "check.sh: no bound $b (${!bounds[*]})" >&2; exit 2; }
done
for tool in spin cc; do
  command -v "$tool" >/dev/null || {
    echo "check.sh: $tool not found on PATH (scripts/setup.sh installs it)" >&2
    exit 1
  }
done

work=$(mktemp -d /tmp/locktopus-spin.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/model"
cp "$root/model/replication.pml" "$work/src/model/"
if [ -n "$mutant" ]; then
  (cd "$work/src" && patch -p1 -s <"$mutant")
  sed -n '/^$/q;p' "$mutant"
fi

# Runs one bound in its own directory; prints pan's verdict. Returns 0 for
# a complete search without error, 1 for a violation, 2 for anything else.
run() {
  local name=$1 dir=$work/$1 at=$SECONDS
  mkdir -p "$dir"
  cp "$work/src/model/replication.pml" "$dir/"
  # shellcheck disable=SC2086 # the bound is a list of flags
  (cd "$dir" && spin ${bounds[$name]} -a replication.pml >spin.log 2>&1 &&
    cc -O2 -w -DSAFETY -DNOREDUCE -DMEMLIM=3072 -o pan pan.c) || {
    cat "$dir/spin.log"
    echo "$name: spin -a or cc failed"
    return 2
  }
  (cd "$dir" && ./pan -m10000 -w24 >pan.log 2>&1) || true
  local states errors
  states=$(grep -oP '^ *\K[0-9]+(?= states, stored)' "$dir/pan.log" || echo '?')
  errors=$(grep -oP 'errors: \K[0-9]+' "$dir/pan.log" || echo '?')
  echo "$name (${bounds[$name]}): $states states, $errors errors, $((SECONDS - at)) s"
  if grep -q 'max search depth too small' "$dir/pan.log"; then
    echo "$name: the search was cut at pan's depth limit (-m)"
    return 2
  fi
  if [ "$errors" = 0 ] && ! grep -q 'Search not completed' "$dir/pan.log"; then
    return 0
  fi
  if [[ $errors =~ ^[1-9] ]]; then
    grep -m1 'pan:1:' "$dir/pan.log" || true
    return 1
  fi
  tail -20 "$dir/pan.log"
  return 2
}

# The counterexample pan found, a line per atomic step of the servers (its
# number, the server, and the step's name in the model: the inline it
# expands or the first words of the comment above it), then the assertion
# that failed.
trail() {
  # shellcheck disable=SC2086
  (cd "$work/$1" && spin ${bounds[$1]} -t -p replication.pml) | awk -v model="$work/$1/replication.pml" '
    BEGIN {
      while ((getline text <model) > 0) {
        source[++n] = text
        if (match(text, /^inline [a-z_]+/)) name = substr(text, 8, RLENGTH - 7)
        else if (match(text, /^  \/\* [^:.]*/)) name = substr(text, 6, RLENGTH - 5)
        step[n] = name
      }
    }
    /^ *[0-9]+:\tproc +[0-9]+ \(Server.*\[/ && $1 != last {
      last = $1
      match($0, /replication.pml:[0-9]+/)
      printf "  %4s S%d %s\n", $1, $3 - 2, step[substr($0, RSTART + 16, RLENGTH - 16)]
    }
    /Error: assertion violated/ {
      match($0, /replication.pml:[0-9]+/)
      text = source[substr($0, RSTART + 16, RLENGTH - 16)]
      sub(/^ */, "", text)
      print "  violated: " text
    }'
}

status=0
for b in "${order[@]}"; do
  rc=0
  run "$b" || rc=$?
  if [ -n "$mutant" ]; then
    case $rc in
      1) echo "killed at $b; the counterexample:"
         trail "$b"
         exit 0 ;;
      2) exit 1 ;;
    esac
  elif ((rc)); then
    status=1
  fi
done
if [ -n "$mutant" ]; then
  echo "survived: no violation at ${order[*]}"
  exit 1
fi
exit "$status"
