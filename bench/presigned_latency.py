#!/usr/bin/env python3
"""Latency of the seed's pre-signed flow for a 5 MB photo: POST metadata (201 + URL), then PUT
the bytes to the URL; p50/p99 of each step and of both, beside a direct POST of the same bytes.

Starts its own imgd (Release build) on a free loopback port with a temporary data dir. Every
upload is made unique (a random COM segment) so each one does the full work. Bounded: COUNT
iterations per flow (default 40), one client.
Usage: bench/presigned_latency.py [build/imgd]
"""
import json
import os
import struct
import sys
import time
import uuid
import urllib.parse

from benchlib import pct  # noqa: E402 (sets IMGD_BIN first)
from harness import Server, corpus_bytes  # noqa: E402

COUNT = int(os.environ.get("COUNT", "40"))
SIZE = 5_000_000


def photo_5mb():
    base = corpus_bytes("real/real_09_kleiber_6028x3391.jpg")  # 4.4 MB, 6028x3391
    tag = uuid.uuid4().bytes
    pad = SIZE - len(base) - 4 - len(tag)
    out = base[:2] + b"\xff\xfe" + struct.pack(">H", len(tag) + 2) + tag
    while pad > 0:
        n = min(pad - 4, 65533)
        out += b"\xff\xfe" + struct.pack(">H", n + 2) + b"\0" * n
        pad -= n + 4
    out += base[2:]
    assert len(out) == SIZE, len(out)
    return out


def main():
    server = Server().start()
    try:
        key = server.create_user("bench")["apiKey"]
        conn = server.conn()
        post_ms, put_ms, both_ms, direct_ms = [], [], [], []
        for _ in range(COUNT):
            data = photo_5mb()
            t0 = time.perf_counter()
            r = server.request("POST", "/v1/images", json.dumps({"imageName": "b", "size": SIZE}),
                               {"Content-Type": "application/json"}, key=key, conn=conn)
            t1 = time.perf_counter()
            assert r.status == 201, r.body
            path = urllib.parse.urlsplit(r.json()["preSignedUrl"]).path
            r = server.request("PUT", path, data, {"Content-Type": "image/jpeg"}, conn=conn)
            t2 = time.perf_counter()
            assert r.status == 200, r.body
            post_ms.append((t1 - t0) * 1000)
            put_ms.append((t2 - t1) * 1000)
            both_ms.append((t2 - t0) * 1000)
            data = photo_5mb()
            t0 = time.perf_counter()
            r = server.upload(data, key, conn=conn)
            direct_ms.append((time.perf_counter() - t0) * 1000)
            assert r.status == 201, r.body
        print(f"pre-signed flow, 5 MB photo, {COUNT} uploads, 1 client:")
        for name, v in (("POST metadata", post_ms), ("PUT bytes", put_ms),
                        ("both requests", both_ms), ("direct POST (reference)", direct_ms)):
            print(f"  {name:24s} p50 {pct(v, 50):7.1f} ms   p99 {pct(v, 99):7.1f} ms")
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
