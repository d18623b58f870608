#!/usr/bin/env bash
# Installs what the benchmark suite needs beyond imgd's own dependencies: the peers (nginx with
# image_filter, ImageMagick, sharp and ipx from npm into bench/node_modules), the load tools (wrk)
# and the chart plotter (gnuplot). Idempotent; Debian packages and the npm registry only.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"

PACKAGES=(wrk nginx libnginx-mod-http-image-filter imagemagick gnuplot-nox libvips-tools nodejs npm linux-perf)
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# node and npm may come from outside Debian's packages; only ask apt when the commands are absent.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs/}"); missing=("${missing[@]/npm/}")
fi
read -r -a missing <<<"${missing[*]}"

if [ ${#missing[@]} -gt 0 ]; then
  echo "bench/install-deps: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  # Installing nginx must not start Debian's default site (it listens on every address, port 80):
  # the suite starts its own nginx on 127.0.0.1 only. policy-rc.d exit 101 = "do not start".
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$made_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi

# sharp (in-process peer) and ipx (HTTP peer), pinned, into the bench folder only.
if [ ! -f "$HERE/node_modules/.imgd-bench-v1" ]; then
  (cd "$HERE" && npm install --no-save --no-audit --no-fund --prefix "$HERE" \
    sharp@0.35.5 ipx@3.1.1 >/dev/null)
  touch "$HERE/node_modules/.imgd-bench-v1"
fi
