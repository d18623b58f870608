#!/usr/bin/env python3
"""Warm delivery through the reference edge (deploy/edge, Varnish 7.1) beside imgd alone: wrk
(keep-alive, 64 connections, 2 threads, DURATION s) on one cached variant of about 20 KB and
200 KB, and on its 304 revalidation. Everything on the same 2 cores, so the figures are a
floor for a dedicated edge host. Prints a Markdown table.
Usage: bench/edge_throughput.py [build/imgd]
"""
import os
import re
import subprocess
import sys
import tempfile

from benchlib import unique  # noqa: E402 (sets IMGD_BIN first)
from harness import Server, corpus_bytes  # noqa: E402
from edges import Edge  # noqa: E402
from peers import Imgd  # noqa: E402

DURATION = os.environ.get("DURATION", "10")


def wrk(url, headers=()):
    args = ["wrk", "-t2", "-c64", f"-d{DURATION}s", "--latency"]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=120).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    to_ms = {"us": 0.001, "ms": 1, "s": 1000}
    return rate, float(p50.group(1)) * to_ms[p50.group(2)], float(p99.group(1)) * to_ms[p99.group(2)]


def main():
    # One address at rates far beyond a person's: the abuse limits off, as in `make bench`.
    server = Server(extra_args=Imgd.NO_LIMITS, nodes=1).start()
    tmp = tempfile.TemporaryDirectory(prefix="imgd-edge-bench-")
    edge = Edge(tmp.name, f"127.0.0.1:{server.port}").start()
    try:
        key = server.create_user("bench")["apiKey"]
        image = server.upload(unique(corpus_bytes("real/real_08_sunset_4272x2848.jpg")),
                              key).json()["imageId"]
        print("| case | bytes | imgd req/s | imgd p50/p99 ms | edge req/s | edge p50/p99 ms | "
              "edge / imgd |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, w in (("20KB", 480), ("200KB", 1811)):
            path = f"/v1/images/{image}/content?w={w}"
            r = server.request("GET", path)
            for base in (f"http://127.0.0.1:{server.port}", edge.url):  # warm both
                subprocess.run(["curl", "-s", "-o", "/dev/null", base + path], check=True)
            for case, headers in ((name, ()), (name + " 304", (f"If-None-Match: {r.header('etag')}",))):
                a = wrk(f"http://127.0.0.1:{server.port}{path}", headers)
                b = wrk(edge.url + path, headers)
                print(f"| {case} | {len(r.body)} | {a[0]:.0f} | {a[1]:.2f} / {a[2]:.2f} | "
                      f"{b[0]:.0f} | {b[1]:.2f} / {b[2]:.2f} | {b[0] / a[0]:.2f}x |")
    finally:
        edge.stop()
        server.cleanup()
        tmp.cleanup()


if __name__ == "__main__":
    main()
