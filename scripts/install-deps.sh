#!/usr/bin/env bash
# Installs every Debian 12 package imgd needs to build, test and run.
# Idempotent: only missing packages are installed, and `apt-get update` runs only then.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config clang-format git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libvips-dev libssl-dev libsqlite3-dev
  libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev
  libpq-dev postgresql-15 python3-swift memcached
  python3 curl procps
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
