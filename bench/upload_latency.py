#!/usr/bin/env python3
"""Upload latency of the corpus' real photos, from 1 and from 8 concurrent clients.

Starts its own imgd (Release build) on a free loopback port with a temporary data dir.
Each upload is made unique (a random COM segment) so every request does the full work:
stream, hash, validate, fsync, commit. Bounded: ROUNDS passes over the 9 photos per client.
Usage: bench/upload_latency.py [build/imgd]  (ROUNDS=n to change the count)
"""
import concurrent.futures
import os
import statistics
import sys
import time

from benchlib import pct as percentile, unique  # noqa: E402 (sets IMGD_BIN first)
from harness import CORPUS, Server, corpus_bytes  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "5"))


def run(server, key, photos, clients):
    def one_client(_):
        conn = server.conn()
        times = []
        for _ in range(ROUNDS):
            for data in photos:
                body = unique(data)
                t = time.perf_counter()
                r = server.upload(body, key, conn=conn)
                times.append(time.perf_counter() - t)
                assert r.status == 201, r.body
        conn.close()
        return times

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        all_times = [t for ts in ex.map(one_client, range(clients)) for t in ts]
    wall = time.perf_counter() - t0
    mb = sum(len(p) for p in photos) * ROUNDS * clients / 1e6
    print(f"{clients} client(s): n={len(all_times)} p50={percentile(all_times, 50)*1000:.1f} ms "
          f"p99={percentile(all_times, 99)*1000:.1f} ms max={max(all_times)*1000:.1f} ms "
          f"throughput={mb / wall:.1f} MB/s")


def main():
    real = sorted(os.listdir(os.path.join(CORPUS, "real")))
    photos = [corpus_bytes("real/" + f) for f in real]
    print(f"{len(photos)} photos, {sum(map(len, photos)) / 1e6:.1f} MB per pass, "
          f"{ROUNDS} passes per client")
    server = Server().start()
    try:
        key = server.create_user("bench")["apiKey"]
        for clients in (1, 8):
            run(server, key, photos, clients)
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
