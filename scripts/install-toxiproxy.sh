#!/usr/bin/env bash
# Builds Toxiproxy (Shopify's TCP proxy with latency "toxics", for the three-region
# simulation: the kernel here has no netem) from the Go module proxy, at the version and
# checksums pinned in tests/engines/toxiproxy/go.{mod,sum}, once. Prints the binary's path.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MOD="$ROOT/tests/engines/toxiproxy"
VERSION="$(awk '$1 == "github.com/Shopify/toxiproxy/v2" {print $2}' "$MOD/go.mod")"
OUT="${XDG_CACHE_HOME:-$HOME/.cache}/imgd/toxiproxy-$VERSION/toxiproxy-server"
if [ ! -x "$OUT" ]; then
  PATH="$PATH:/usr/local/go/bin"
  if ! command -v go >/dev/null; then
    echo "install-toxiproxy: go not found (Go >= 1.24 is needed)" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$OUT")"
  (cd "$MOD" && GOFLAGS=-mod=readonly go build -o "$OUT.tmp" github.com/Shopify/toxiproxy/v2/cmd/server)
  mv "$OUT.tmp" "$OUT"
fi
echo "$OUT"
