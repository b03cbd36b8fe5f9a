#!/usr/bin/env bash
# Installs every build and test dependency of Locktopus from Debian's apt
# (and the npm packages of the end-to-end tests, once they exist).
# Idempotent: when everything is present it only checks and returns.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache git pkg-config
  clang libclang-rt-14-dev llvm
  # scripts/lint.sh: Debian's default, version 14 as clang is.
  clang-format
  libboost1.81-dev
  libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev libcli11-dev
  libssl-dev openssl
  zip unzip
  # The packaged unit's checks: systemd-analyze (verify, security; the
  # package is installed for the tool, not to run as init) and strace, which
  # records the server's system calls under the unit's sandbox.
  systemd strace
  # The HA mode's etcd and the proxy in front of groups: the tests and
  # scripts/cluster.sh start their own etcd members and HAProxy (2.6, with
  # Lua); the packaged services need not run. etcdctl for the HA test.
  etcd-server etcd-client haproxy
  # The replication protocol's Promela model (model/check.sh): SPIN 6.5.2.
  spin
  # The dashboard's browser test: headless chromium, driven by the
  # end-to-end tests' puppeteer-core (which downloads no browser of its own).
  chromium
)
# node and npm may come from a nodejs package that bundles npm: judge by command.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The end-to-end tests' npm packages, pinned by tests/package-lock.json;
# installed again only when the lock file changes.
root=$(cd "$(dirname "$0")/.." && pwd)
lock="$root/tests/package-lock.json"
stamp="$root/tests/node_modules/.locktopus-lock-sha256"
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the end-to-end tests' npm packages" >&2
  (cd "$root/tests" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$stamp"
fi
