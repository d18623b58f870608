#!/usr/bin/env python3
"""Upload and read latency on the embedded stores (SQLite + filesystem) vs PostgreSQL + S3
(real engines on loopback: PostgreSQL 15, Swift s3api), same photos, same client.

One imgd node per backend, one client, keep-alive. Each upload is made unique (a random
COM segment) so every one does the full work. Reads: the original (always from the blob
store) and a cached variant. Bounded: ROUNDS passes over the 9 corpus photos.
Usage: bench/store_latency.py [build/imgd]
"""
import os
import sys
import time

from benchlib import pct, unique  # noqa: E402 (sets IMGD_BIN first)
from harness import CORPUS, Server, corpus_bytes  # noqa: E402
from engines import Engines  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "5"))


def run(server):
    key = server.create_user("bench")["apiKey"]
    photos = [corpus_bytes("real/" + f) for f in sorted(os.listdir(os.path.join(CORPUS, "real")))
              if f.endswith(".jpg")]
    conn = server.conn()
    up, read, variant, ids = [], [], [], []
    for _ in range(ROUNDS):
        for p in photos:
            data = unique(p)
            t = time.perf_counter()
            r = server.upload(data, key, conn=conn)
            up.append((time.perf_counter() - t) * 1000)
            assert r.status == 201, r.body
            ids.append(r.json()["imageId"])
    for image_id in ids:
        t = time.perf_counter()
        r = server.request("GET", f"/v1/images/{image_id}/content", conn=conn)
        read.append((time.perf_counter() - t) * 1000)
        assert r.status == 200
    path = f"/v1/images/{ids[0]}/content?w=300"
    server.request("GET", path, conn=conn)
    for _ in range(len(ids)):
        t = time.perf_counter()
        r = server.request("GET", path, conn=conn)
        variant.append((time.perf_counter() - t) * 1000)
    return up, read, variant




def main():
    results = {}
    embedded = Server(nodes=1).start()
    try:
        results["embedded (SQLite + files)"] = run(embedded)
    finally:
        embedded.cleanup()
    started = time.monotonic()
    engines = Engines().start()
    startup = time.monotonic() - started
    try:
        db = "bench"
        import subprocess
        subprocess.run(["psql", engines.pg.url, "-Xqc", f"CREATE DATABASE {db}"], check=True,
                       capture_output=True)
        meta = engines.pg.url.rsplit("/", 1)[0] + "/" + db
        remote = Server(extra_args=["--meta", meta, "--blob", engines.s3.url + "&prefix=bench"],
                        env=engines.env(), nodes=1).start()
        try:
            results["PostgreSQL 15 + S3 (Swift)"] = run(remote)
        finally:
            remote.cleanup()
    finally:
        engines.stop()
    print(f"engines started in {startup:.1f} s; {ROUNDS} x 9 photos, 1 client\n")
    print(f"{'backend':28s} {'upload p50':>10s} {'p99':>8s} {'original p50':>13s} {'p99':>8s} "
          f"{'variant p50':>12s} {'p99':>8s}  (ms)")
    for name, (up, read, variant) in results.items():
        print(f"{name:28s} {pct(up, 50):10.1f} {pct(up, 99):8.1f} {pct(read, 50):13.1f} "
              f"{pct(read, 99):8.1f} {pct(variant, 50):12.2f} {pct(variant, 99):8.2f}")


if __name__ == "__main__":
    main()
