#!/usr/bin/env python3
"""Variant formats: what each saves and what each costs. For every corpus photo, imgd's
JPEG, WebP and AVIF variants at the default quality (q 80, which imgd maps to WebP 88 and
AVIF 77 for equal SSIM) at 400 and 1200 px wide: the bytes; then cold transform rates per
format (imgd over HTTP with its variant cache and store off, 2 clients, a 12 MP photo to
400 px) beside sharp's in-process WebP and AVIF (its defaults) on the same input.
Prints a Markdown report; `make bench` appends it to its report.
Usage: bench/formats.py [build/imgd]   (SECONDS_PER_POINT: 10)
"""
import json
import os
import sys
import time

import benchlib  # noqa: F401 (sets IMGD_BIN and the import path first)
from harness import CORPUS, corpus_bytes  # noqa: E402
from peers import Imgd, run_measured, HERE  # noqa: E402
import workloads as wl  # noqa: E402

FORMATS = ("jpeg", "webp", "avif")
MAGIC = {"jpeg": lambda b: b[:2] == b"\xff\xd8", "webp": lambda b: b[8:12] == b"WEBP",
         "avif": lambda b: b[4:12] in (b"ftypavif", b"ftypavis")}
COLD_PHOTO = "real/real_09_kleiber_6028x3391.jpg"


def cold_imgd(imgd, image_ids, fmt, width, conc, seconds):
    """Closed loop over unique variants (the cache and store are off: every answer is made)."""
    import http.client
    import threading
    lock, lat, size = threading.Lock(), [], [0]
    end = time.time() + seconds

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", imgd.port, timeout=120)
        path = f"/v1/images/{image_ids[i % len(image_ids)]}/content?w={width}&format={fmt}"
        while time.time() < end:
            t = time.perf_counter()
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            if r.status != 200 or not MAGIC[fmt](body):
                raise RuntimeError(f"{path}: {r.status} {body[:100]!r}")
            with lock:
                lat.append((time.perf_counter() - t) * 1000)
                size[0] = len(body)
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(conc)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wl.summary(lat, len(lat) / (time.perf_counter() - t0), bytes=size[0])


def cold_sharp(path, fmt, width, conc, seconds):
    out, _ = run_measured(["node", os.path.join(HERE, "sharp_loop.js"), path, str(width),
                           str(conc), str(seconds), "1000000", fmt], seconds * 10 + 60, cwd=HERE)
    d = json.loads(out)
    return wl.summary(d["latencies_ms"], d["images_per_s"], bytes=d["bytes"]), d["sharp"]


def run(seconds):
    """The report, as Markdown."""
    photos = sorted(f for f in os.listdir(os.path.join(CORPUS, "real")) if f.endswith(".jpg"))
    imgd = Imgd(cold=True).start()
    try:
        ids = [imgd.upload(corpus_bytes("real/" + f)) for f in photos]
        sizes = {}
        for width in (400, 1200):
            for fmt in FORMATS:
                total = 0
                for i in ids:
                    r = imgd.server.request("GET", f"/v1/images/{i}/content?w={width}&format={fmt}")
                    assert r.status == 200 and MAGIC[fmt](r.body), (r.status, r.body[:100])
                    total += len(r.body)
                sizes[(width, fmt)] = total
        cold_id = ids[photos.index(COLD_PHOTO.split("/")[1])]
        cold = {fmt: cold_imgd(imgd, [cold_id], fmt, 400, 2, seconds) for fmt in FORMATS}
    finally:
        imgd.stop()
    path = os.path.join(CORPUS, COLD_PHOTO)
    sharp = {}
    version = ""
    for fmt in FORMATS + ("webp-imgd", "avif-imgd"):
        sharp[fmt], version = cold_sharp(path, fmt, 400, 2, seconds)
    lines = []
    print = lines.append  # noqa: A001 (the report is built line by line)

    print(f"## Variant formats ({time.strftime('%Y-%m-%d', time.gmtime())})\n")
    print(f"Bytes of imgd's variants of the {len(photos)} corpus photos at the default q (80):\n")
    print("| width | JPEG | WebP | AVIF | WebP vs JPEG | AVIF vs JPEG |")
    print("| --- | --- | --- | --- | --- | --- |")
    for width in (400, 1200):
        j, w, a = (sizes[(width, f)] for f in FORMATS)
        print(f"| {width} px | {j / 1024:.0f} KB | {w / 1024:.0f} KB | {a / 1024:.0f} KB | "
              f"{100 * (w / j - 1):+.0f}% | {100 * (a / j - 1):+.0f}% |")
    print(f"\nCold transforms, {COLD_PHOTO.split('/')[1]} (6028x3391) to 400 px wide, 2 clients, "
          f"{seconds:.0f} s per point (sharp {version}: its defaults, WebP q 80 effort 4, "
          "AVIF q 50 effort 4; imgd: q 80 mapped to WebP 88, AVIF 77 at effort 1):\n")
    print("| format | imgd images/s | imgd p50 / p99 ms | imgd bytes | sharp images/s |"
          " sharp p50 / p99 ms | sharp bytes |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for fmt in FORMATS:
        c, s = cold[fmt], sharp[fmt]
        print(f"| {fmt} | {c['rate']:.1f} | {c['p50']:.0f} / {c['p99']:.0f} | "
              f"{c['bytes'] / 1024:.1f} KB | {s['rate']:.1f} | {s['p50']:.0f} / {s['p99']:.0f} | "
              f"{s['bytes'] / 1024:.1f} KB |")
    print("\nsharp with imgd's settings (the same encoder work per image):\n")
    print("| format | sharp images/s | sharp p50 / p99 ms | sharp bytes |")
    print("| --- | --- | --- | --- |")
    for fmt in ("webp-imgd", "avif-imgd"):
        s = sharp[fmt]
        print(f"| {fmt.split('-')[0]} | {s['rate']:.1f} | {s['p50']:.0f} / {s['p99']:.0f} | "
              f"{s['bytes'] / 1024:.1f} KB |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(run(float(os.environ.get("SECONDS_PER_POINT", "10"))))
