#!/usr/bin/env bash
# The benchmark suite: imgd beside sharp, ipx, nginx (image_filter and static sendfile),
# Debian's libvips in a C++ loop and ImageMagick, on the same inputs, in one run.
# Installs what it needs, builds Release, starts every server on 127.0.0.1, stops them by PID,
# writes bench/results/<UTC>/report.md + charts. QUICK=1: one short round (wiring check).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

"$ROOT/scripts/install-deps.sh"
"$HERE/install-deps.sh"
cmake -S "$ROOT" -B "$ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DIMGD_BENCH_TOOLS=ON >/dev/null
cmake --build "$ROOT/build" -j "$(nproc)"
export IMGD_BIN="$ROOT/build/imgd" IMGD_CORPUS="${IMGD_CORPUS:-$ROOT/tests/corpus}"
exec python3 "$HERE/suite.py"
