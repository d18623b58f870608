#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and runs each for
# FUZZ_SECONDS (default 60) on one core, or for FUZZ_RUNS executions when set. Corpora live
# in build-fuzz/corpus/<target> (kept between runs), seeded from tests/corpus and small
# hand-made inputs; crashes land in build-fuzz/findings/<target>/. Prints each target's
# execution count. Exit 1 when a target found something.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/build-fuzz"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
TARGETS=(${FUZZ_TARGETS:-jpeg jpeg_scans multipart transform_query upload_token tus_headers signed_url lane_request})

if ! command -v clang++ >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q 'install ok installed'; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null
fi
CXX="$(command -v clang++ || command -v clang++-14)"
cmake -S "$ROOT/fuzz" -B "$OUT" -G Ninja -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$OUT" -j "$(nproc)"

seed() {
  local t=$1 dir="$OUT/corpus/$1"
  mkdir -p "$dir"
  [ -n "$(ls -A "$dir")" ] && return 0
  case $t in
    jpeg)
      find "$ROOT/tests/corpus" -type f -name '*.jp*g' -size -300k -exec cp {} "$dir/" \; ;;
    jpeg_scans)
      # 640x480: the DC scan, then coefficient 1 at Al=13 refined to Al=11.
      printf '\x7f\x02\xdf\x01\x00\x00\x00\x01\x01\x0d\x01\x01\xdc\x01\x01\xcb' >"$dir/seed1"
      # 64x64: a flood of 60 identical refinement-free AC scans (invalid progression).
      { printf '\x3f\x00\x3f\x00\x00\x00\x00'; for _ in $(seq 60); do printf '\x01\x3f\x00'; done; } >"$dir/seed2" ;;
    multipart)
      printf 'multipart/form-data; boundary=XyZ\n--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0data\r\n--XyZ\r\nContent-Disposition: form-data; name="imageName"\r\n\r\ncups\r\n--XyZ--\r\n' >"$dir/seed1" ;;
    transform_query)
      printf '\x10\x00\x0b\xb8w=300&h=200&fit=cover&q=80' >"$dir/seed1"
      printf '\x0f\xa0\x0b\xb8w=1200&fit=contain&bg=ff0000&enlarge=true&progressive=1' >"$dir/seed2"
      printf '\x01\x00\x01\x00h=50&fit=inside' >"$dir/seed3" ;;
    upload_token)
      printf 'u1.0190f0a0-0000-7000-8000-000000000001.5000000.1795591173.return.k1.AAAA' >"$dir/seed1" ;;
    tus_headers)
      printf 'imageName Y3Vwcw==,imageDescription YSBkZXNjcmlwdGlvbg==,filename YS5qcGc=' >"$dir/seed1"
      printf '1048576' >"$dir/seed2" ;;
    signed_url)
      printf '/v1/images/0190f0a0-0000-7000-8000-000000000001/content?w=300&h=200&expires=1800003600&kid=k1&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' >"$dir/seed1"
      printf '/v1/images/x/content?expires=1&kid=k0&sig=%%41' >"$dir/seed2" ;;
    lane_request)
      printf 'GET /v1/images/x/content?w=480 HTTP/1.1\r\nHost: a\r\nIf-None-Match: "e"\r\nAccept: image/webp\r\nX-Request-Id: r1\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n' >"$dir/seed1"
      printf 'GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET /next HTTP/1.1\r\n\r\n' >"$dir/seed2" ;;
  esac
}

status=0
for t in "${TARGETS[@]}"; do
  seed "$t"
  mkdir -p "$OUT/findings/$t"
  limit=(-max_total_time="$SECONDS_EACH")
  [ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
  log="$OUT/findings/$t/last-run.log"
  if ! "$OUT/${t}_fuzz" "${limit[@]}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$OUT/findings/$t/" -print_final_stats=1 "$OUT/corpus/$t" >"$log" 2>&1; then
    status=1
    echo "$t: FINDING, see $log and $OUT/findings/$t/"
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  echo "$t: $runs executions"
done
exit $status
