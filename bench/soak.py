#!/usr/bin/env python3
"""Soak: a long mixed load on one imgd with its RSS sampled every second, to show memory is
flat after warm-up (no leak) and nothing degrades. Not part of `make test`.

Load, all at once for SOAK_SECONDS (default 600):
  - the seed's mix from imgd-loadgen (open loop, SOAK_RATE req/s, default 1500: Zipf reads
    of 300 images x 4 sizes, 1 upload per 100 reads), in 10 s slices;
  - cold transforms of random sizes (w 40..1600), which fill and churn the variant cache;
  - deletes of random images while they are being read, and re-uploads of them.
Writes bench/results/soak-<UTC>/soak.md, rss.tsv and rss.png. Memory is judged on what is
live (each minute's lowest RSS: imgd trims free memory every 30 s), see assess().
Usage: bench/soak.py [build/imgd]   (after a Release build with bench tools)
       bench/soak.py --assess bench/results/soak-<UTC>   (re-judge a finished run)
"""
import datetime
import json
import os
import random
import re
import statistics
import subprocess
import threading
import time

from benchlib import HERE, unique
from harness import CORPUS
from peers import Imgd, hwm_kb
import workloads as wl

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
RATE = int(os.environ.get("SOAK_RATE", "1500"))
# The variant cache (256 MB by default) fills during the first minutes of this load: memory
# is judged over the second half only.
WARMUP = SECONDS / 2
PHOTOS = ["real/real_01_skagen_800x533.jpg", "real/real_02_honeybee_1620x1280.jpg",
          "real/real_03_storm_1920x1280.jpg", "real/real_07_chameleon_1306x1530.jpg"]


def slope_per_min(points):
    if len(points) < 3:
        return 0.0
    return statistics.linear_regression([t for t, _ in points],
                                        [v for _, v in points]).slope * 60


def assess(samples, warmup):
    """Memory over the judged part ([warmup, end]) of (seconds, RSS MB) samples. imgd hands
    free memory back every 30 s (malloc_trim), so the lowest RSS of each minute is what is
    live (a leak raises it); the samples between trims also hold transient transform
    buffers, bounded by --transform-memory. Flat = live memory rising < 1 MB/min and < 32 MB
    in all over the judged part."""
    after = [(t, mb) for t, mb in samples if t >= warmup]
    minutes = {}
    for t, mb in after:
        minutes.setdefault(int(t // 60), []).append((t, mb))
    floors = [min(points, key=lambda p: p[1]) for _, points in sorted(minutes.items())]
    floor_slope = slope_per_min(floors)
    rise = floors[-1][1] - floors[0][1] if floors else 0.0
    return {"warmup_s": warmup, "rss_start_mb": after[0][1], "rss_end_mb": after[-1][1],
            "live_start_mb": floors[0][1], "live_end_mb": floors[-1][1],
            "live_slope_mb_per_min": floor_slope, "slope_mb_per_min": slope_per_min(after),
            "flat": abs(floor_slope) < 1.0 and rise < 32}


def memory_text(m):
    return (f"Judged after a {m['warmup_s']:.0f} s warm-up: live memory (each minute's lowest "
            f"RSS, after the half-minute trim) {m['live_start_mb']:.0f} MB → "
            f"{m['live_end_mb']:.0f} MB, slope {m['live_slope_mb_per_min']:+.2f} MB/min; every "
            f"sample {m['rss_start_mb']:.0f} → {m['rss_end_mb']:.0f} MB, slope "
            f"{m['slope_mb_per_min']:+.2f} MB/min (transient transform buffers between trims): "
            f"**{'flat' if m['flat'] else 'growing'}**.")


def reassess(directory):
    """Re-judges a finished soak from its rss.tsv (bench/soak.py --assess DIR)."""
    with open(os.path.join(directory, "rss.tsv")) as f:
        samples = [tuple(map(float, line.split())) for line in f.read().splitlines()[1:]]
    with open(os.path.join(directory, "soak.json")) as f:
        meta = json.load(f)
    m = assess(samples, meta["seconds"] / 2)
    print(memory_text(m))
    return 0 if m["flat"] else 1


def main():
    if len(os.sys.argv) == 3 and os.sys.argv[1] == "--assess":
        return reassess(os.sys.argv[2])
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    out = os.path.join(HERE, "results", "soak-" + stamp)
    os.makedirs(out)
    photos = [open(os.path.join(CORPUS, p), "rb").read() for p in PHOTOS]
    imgd = Imgd().start()
    stop = threading.Event()
    samples, counts, errors = [], {"transforms": 0, "deletes": 0, "reuploads": 0}, []
    try:
        reads, _ = wl.mix_setup(imgd, photos, 300, out)
        ids = sorted({line.split("/")[3] for line in open(reads)})
        t0 = time.time()

        def sampler():
            while not stop.is_set():
                samples.append((time.time() - t0, imgd.server.rss_kb()))
                stop.wait(1.0)

        def transformer():
            rng = random.Random(1)
            conn = imgd.server.conn()
            while not stop.is_set():
                path = imgd.variant_path(rng.choice(ids), rng.randint(40, 1600))
                r = imgd.server.request("GET", path, conn=conn)
                if r.status not in (200, 404):
                    errors.append(f"transform {r.status}")
                counts["transforms"] += 1

        def churner():
            rng = random.Random(2)
            while not stop.is_set():
                victim = rng.choice(ids)
                r = imgd.server.request("DELETE", f"/v1/images/{victim}", key=imgd.key)
                if r.status not in (204, 404):
                    errors.append(f"delete {r.status}")
                counts["deletes"] += 1
                new_id = imgd.upload(unique(rng.choice(photos)))
                ids[ids.index(victim)] = new_id
                counts["reuploads"] += 1
                stop.wait(0.5)

        threads = [threading.Thread(target=f, daemon=True)
                   for f in (sampler, transformer, churner)]
        for t in threads:
            t.start()
        steps = []
        while time.time() - t0 < SECONDS:
            step = wl.mix_step(imgd, reads, [os.path.join(CORPUS, p) for p in PHOTOS], RATE,
                               min(10, max(1, SECONDS - (time.time() - t0))))
            steps.append(step)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        peak = hwm_kb(imgd.pid)
        cache_mb = float(re.search(r"^imgd_variant_cache_bytes (\S+)", imgd.server.metrics(),
                                   re.M).group(1)) / 2**20
    finally:
        stop.set()
        imgd.stop()

    m = assess([(t, kb / 1024) for t, kb in samples], WARMUP)
    reads_ok = sum(s["read"]["ok"] for s in steps)
    read_p99 = max(s["read"]["p99"] for s in steps)
    # A read of an image the churner deleted is a correct 404, not a failure.
    failed = sum(n for s in steps for cls in ("read", "upload")
                 for kind, n in s[cls]["errors"].items() if kind != "status-404")
    with open(os.path.join(out, "rss.tsv"), "w") as f:
        f.write("seconds\trss_mb\n")
        for t, kb in samples:
            f.write(f"{t:.1f}\t{kb / 1024:.1f}\n")
    with open(os.path.join(out, "soak.md"), "w") as f:
        f.write(f"# Soak, {SECONDS / 60:.0f} min\n\n"
                f"Load: seed mix at {RATE} req/s open loop ({reads_ok} reads answered, {failed} "
                f"failed, worst 10 s read p99 {read_p99:.1f} ms), {counts['transforms']} cold "
                f"transforms of random sizes, {counts['deletes']} deletes while reading and "
                f"{counts['reuploads']} re-uploads; errors seen: {len(errors)}.\n\n"
                f"Peak RSS {peak / 1024:.0f} MB (variant cache {cache_mb:.0f} MB at the end). "
                + memory_text(m) + "\n\n![rss](rss.png)\n")
    with open(os.path.join(out, "soak.json"), "w") as f:
        json.dump(dict(m, seconds=SECONDS, rate=RATE, counts=counts, errors=errors[:50],
                       peak_mb=peak / 1024, read_p99_worst=read_p99, failed=failed), f, indent=1)
    flat = m["flat"]
    subprocess.run(["gnuplot"], input=f"""set terminal pngcairo size 900,400
set output '{out}/rss.png'
set xlabel 'seconds'
set ylabel 'RSS MB'
set yrange [0:*]
set arrow from {WARMUP},graph 0 to {WARMUP},graph 1 nohead dt 2
plot '{out}/rss.tsv' using 1:2 skip 1 with lines title 'imgd RSS'
""", text=True, check=False)
    print(open(os.path.join(out, "soak.md")).read())
    return 0 if flat and not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
