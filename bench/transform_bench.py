#!/usr/bin/env python3
"""Transform speed: imgd over HTTP beside sharp's in-process loop, in one run.

Measures, for the 12 MP photo (real_08, progressive) and a phone-like 12 MP baseline q90
JPEG made from real_09 (4000x3000) when libvips' CLI is present:
  - cold latency p50/p99 to 300 and 1200 px wide (variant cache and store off: every
    request transforms), and warm latency (cache on, same variant again);
  - cold transforms/s with 1 and 2 concurrent clients, and sharp's in-process loop at the
    same concurrency measured right after (ratio = imgd / sharp);
  - peak RSS of the server during 2 concurrent transforms of the 20 MP photo.
sharp is installed into bench/node_modules on first use (npm registry). Bounded in time.
Usage: bench/transform_bench.py [build/imgd]   (SECONDS=n per throughput point, default 8)
"""
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/integration"))
os.environ.setdefault("IMGD_BIN", sys.argv[1] if len(sys.argv) > 1 else
                      os.path.join(HERE, "../build/imgd"))
from benchlib import pct  # noqa: E402
from harness import CORPUS, Server, corpus_bytes  # noqa: E402

SECONDS = float(os.environ.get("SECONDS_PER_POINT", os.environ.get("SECONDS", "8")))


def ensure_sharp():
    if os.path.isdir(os.path.join(HERE, "node_modules", "sharp")):
        return True
    if not shutil.which("npm"):
        return False
    r = subprocess.run(["npm", "install", "--no-save", "--prefix", HERE, "sharp@0.35"],
                       capture_output=True, text=True, timeout=300)
    return r.returncode == 0


def sharp_rate(path, width, conc):
    out = subprocess.run(["node", os.path.join(HERE, "sharp_loop.js"), path, str(width),
                          str(conc), str(SECONDS)], capture_output=True, text=True,
                         timeout=SECONDS * 4 + 60, cwd=HERE)
    return json.loads(out.stdout)


def imgd_rate(server, image_id, width, conc):
    end = time.time() + SECONDS
    counts = []

    def client(_):
        conn = server.conn()
        n = 0
        while time.time() < end:
            r = server.request("GET", f"/v1/images/{image_id}/content?w={width}", conn=conn)
            assert r.status == 200, r.body[:200]
            n += 1
        conn.close()
        return n

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(conc) as ex:
        counts = list(ex.map(client, range(conc)))
    return sum(counts) / (time.time() - t0)


def latencies(server, image_id, width, n):
    conn = server.conn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = server.request("GET", f"/v1/images/{image_id}/content?w={width}", conn=conn)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status == 200
    conn.close()
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="imgd-bench-")
    inputs = {"real_08 (12 MP progressive)": os.path.join(CORPUS, "real/real_08_sunset_4272x2848.jpg")}
    if shutil.which("vips"):
        phone = os.path.join(tmp, "phone12.jpg")
        subprocess.run(["vips", "thumbnail", os.path.join(CORPUS, "real/real_09_kleiber_6028x3391.jpg"),
                        phone + "[Q=90,strip]", "4000", "--height", "3000", "--size", "force"],
                       check=True)
        inputs["phone-like 12 MP (4000x3000 q90 baseline)"] = phone
    have_sharp = ensure_sharp()
    if os.environ.get("RSS_ONLY"):
        inputs = {}
    cold = Server(extra_args=["--variant-cache-bytes", "0", "--store-variants", "false"]).start()
    warm = Server().start()
    try:
        kc = cold.create_user("bench")["apiKey"]
        kw = warm.create_user("bench")["apiKey"]
        for label, path in inputs.items():
            data = open(path, "rb").read()
            id_c = cold.upload(data, kc).json()["imageId"]
            id_w = warm.upload(data, kw).json()["imageId"]
            print(f"\n## {label}, {len(data) / 1e6:.1f} MB")
            for width in (300, 1200):
                c = latencies(cold, id_c, width, 40)
                latencies(warm, id_w, width, 1)  # make it
                w = latencies(warm, id_w, width, 200)
                print(f"w={width}: cold p50 {pct(c, 50):.1f} ms p99 {pct(c, 99):.1f} ms | "
                      f"warm p50 {pct(w, 50):.2f} ms p99 {pct(w, 99):.2f} ms")
                for conc in (1, 2):
                    mine = imgd_rate(cold, id_c, width, conc)
                    line = f"  cold, {conc} client(s): imgd {mine:.1f} img/s"
                    if have_sharp:
                        s = sharp_rate(path, width, conc)
                        line += (f", sharp {s['sharp']} (libvips {s['vips']}) in-process "
                                 f"{s['images_per_s']:.1f} img/s, ratio {mine / s['images_per_s']:.2f}")
                    print(line)
    finally:
        cold.cleanup()
        warm.cleanup()
    # A fresh server, so its peak RSS is this work's alone.
    fresh = Server(extra_args=["--variant-cache-bytes", "0", "--store-variants", "false"]).start()
    try:
        key = fresh.create_user("bench")["apiKey"]
        big = corpus_bytes("real/real_09_kleiber_6028x3391.jpg")
        id_big = fresh.upload(big, key).json()["imageId"]
        before = fresh.rss_kb()
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            list(ex.map(lambda w: latencies(fresh, id_big, w, 5), (300, 1200)))
        print(f"\n20 MP photo (6028x3391), 2 concurrent transforms (to 300 and 1200 px, 5 each): "
              f"server RSS {before / 1024:.0f} MB before, peak {fresh.hwm_kb() / 1024:.0f} MB")
    finally:
        fresh.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
