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
  varnish varnish-modules
  chromium
  python3 curl procps
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# The Cassandra client (src/meta/cql_shim, ScyllaDB's Rust driver): its crates from
# crates.io at the versions in Cargo.lock. It needs Rust >= 1.88 (rustup's stable; Debian 12's
# rustc 1.63 is too old for the driver).
PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null; then
  echo "install-deps: cargo not found; install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi
cargo fetch --locked --quiet --manifest-path "$ROOT/src/meta/cql_shim/Cargo.toml"
# Apache Cassandra for the tests (Java 17 and Maven from Debian when missing), once.
"$ROOT/scripts/install-cassandra.sh" >/dev/null
# Toxiproxy for the three-region simulation (latency between regions), built once from the
# Go module proxy at the version tests/engines/toxiproxy/go.sum pins.
"$ROOT/scripts/install-toxiproxy.sh" >/dev/null
# The web console's build tools (Vite, TypeScript, Uppy), the OpenAPI linter (Redocly CLI)
# and the browser test's driver (playwright-core), at the versions web/package-lock.json
# pins; again only when the lockfile changed since the last install.
# Node.js comes with the machine (with its npm); Debian's is the fallback.
if ! command -v npm >/dev/null; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
stamp="$ROOT/web/node_modules/.imgd-installed-lock"
if ! cmp -s "$ROOT/web/package-lock.json" "$stamp"; then
  npm ci --prefix "$ROOT/web" --no-audit --no-fund --loglevel=error >/dev/null
  cp "$ROOT/web/package-lock.json" "$stamp"
fi
# Schemathesis for the API contract test, in its own virtualenv (tests/schemathesis).
"$ROOT/scripts/install-schemathesis.sh" >/dev/null
