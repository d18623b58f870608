#!/usr/bin/env python3
"""Upload and read latency on the embedded stores (SQLite + filesystem) vs PostgreSQL + S3 vs
Cassandra + S3 (real engines on loopback: PostgreSQL 15, Cassandra 5.0 one node, Swift
s3api), same photos, same client; then each metadata store's operations per second at 1 and
16 concurrent callers (bench/tools/meta_ops.cpp: commits of new images, reads by id).

One imgd node per backend, one client, keep-alive. Each upload is made unique (a random
COM segment) so every one does the full work. Reads: the original (always from the blob
store) and a cached variant. Bounded: ROUNDS passes over the 9 corpus photos, OPS_SECONDS
per store-operations measurement.
Usage: bench/store_latency.py [build/imgd]
"""
import os
import subprocess
import sys
import tempfile
import time

from benchlib import pct, unique  # noqa: E402 (sets IMGD_BIN first)
from harness import CORPUS, Server, corpus_bytes  # noqa: E402
from engines import Engines  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "5"))
OPS_SECONDS = os.environ.get("OPS_SECONDS", "5")


def meta_ops(url, env):
    """imgd-meta-ops' lines for one metadata store URL."""
    tool = os.path.join(os.path.dirname(os.environ["IMGD_BIN"]), "imgd-meta-ops")
    out = subprocess.run([tool, url, OPS_SECONDS, "1", "16"], capture_output=True, text=True,
                         env=env, timeout=600)
    if out.returncode != 0:
        return ["failed: " + out.stderr.strip()[-300:]]
    return out.stdout.strip().splitlines()


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
    results, ops = {}, {}
    embedded = Server(nodes=1).start()
    try:
        results["embedded (SQLite + files)"] = run(embedded)
    finally:
        embedded.cleanup()
    started = time.monotonic()
    engines = Engines(cassandra=True).start()
    startup = time.monotonic() - started
    try:
        env = dict(os.environ, **engines.env())
        subprocess.run(["psql", engines.pg.url, "-Xqc", "CREATE DATABASE bench"], check=True,
                       capture_output=True)
        pg = engines.pg.url.rsplit("/", 1)[0] + "/bench"
        cassandra = engines.cassandra.url.replace("/imgd?", "/bench?")
        for name, meta, prefix in (("PostgreSQL 15 + S3 (Swift)", pg, "bench-pg"),
                                   ("Cassandra 5.0 + S3 (Swift)", cassandra, "bench-c")):
            remote = Server(extra_args=["--meta", meta, "--blob",
                                        engines.s3.url + "&prefix=" + prefix],
                            env=engines.env(), nodes=1).start()
            try:
                results[name] = run(remote)
            finally:
                remote.cleanup()
        with tempfile.TemporaryDirectory() as d:
            ops["SQLite"] = meta_ops(f"sqlite://{d}/ops.db", env)
        subprocess.run(["psql", engines.pg.url, "-Xqc", "CREATE DATABASE ops"], check=True,
                       capture_output=True)
        ops["PostgreSQL 15"] = meta_ops(engines.pg.url.rsplit("/", 1)[0] + "/ops", env)
        ops["Cassandra 5.0 (1 node)"] = meta_ops(engines.cassandra.url.replace("/imgd?", "/ops?"),
                                                 env)
    finally:
        engines.stop()
    print(f"engines started in {startup:.1f} s (Cassandra {engines.cassandra.startup_s:.1f} s); "
          f"{ROUNDS} x 9 photos, 1 client\n")
    print(f"{'backend':28s} {'upload p50':>10s} {'p99':>8s} {'original p50':>13s} {'p99':>8s} "
          f"{'variant p50':>12s} {'p99':>8s}  (ms)")
    for name, (up, read, variant) in results.items():
        print(f"{name:28s} {pct(up, 50):10.1f} {pct(up, 99):8.1f} {pct(read, 50):13.1f} "
              f"{pct(read, 99):8.1f} {pct(variant, 50):12.2f} {pct(variant, 99):8.2f}")
    print(f"\nmetadata store operations ({OPS_SECONDS} s each)")
    for name, lines in ops.items():
        for line in lines:
            print(f"  {name:24s} {line}")


if __name__ == "__main__":
    main()
