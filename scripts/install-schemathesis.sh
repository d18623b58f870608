#!/usr/bin/env bash
# Installs Schemathesis (the API contract test, tests/integration/test_openapi.py) from PyPI
# into its own virtualenv, at the versions and hashes tests/schemathesis/requirements.txt
# pins (pip-compile --generate-hashes of requirements.in), once. Prints the `st` path.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REQ="$ROOT/tests/schemathesis/requirements.txt"
SUM="$(sha256sum "$REQ" | cut -c1-12)"
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/imgd/schemathesis-$SUM"
# A virtualenv records its own path, so it is built in place; the stamp marks it complete.
if [ ! -f "$VENV/.complete" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --require-hashes --no-deps -r "$REQ"
  touch "$VENV/.complete"
fi
echo "$VENV/bin/st"
