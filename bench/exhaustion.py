#!/usr/bin/env python3
"""What one hostile request costs the server (issue 13): peak RSS growth, CPU seconds and
wall time per request, and the series and disk bytes a flood leaves. Run it against two
builds to compare (the numbers of the resolving note come from here).

Starts its own imgd (one node, embedded stores) per section. Bounded: a few requests each,
2 x 500 variant sizes, 300 made-up methods.
Usage: bench/exhaustion.py [IMGD_BINARY [--skip-huge]]   (--skip-huge: no 1000x65500
original, whose enlarged variant an unbounded build would try to make in ~13 GB)
"""
import os
import re
import subprocess
import sys
import tempfile
import time

import benchlib  # noqa: F401 (sets IMGD_BIN first)
from harness import IMGD_BIN, Server, corpus_bytes  # noqa: E402
from jpeg_forge import baseline, longest_progression, progressive  # noqa: E402


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cost(server, label, send):
    """Runs send() and prints the status, server CPU s, peak RSS growth and wall time."""
    pid = server.pid()
    hwm, cpu, t = server.hwm_kb(), cpu_seconds(pid), time.perf_counter()
    r = send()
    wall = time.perf_counter() - t
    slug = ""
    if r.header("content-type") == "application/problem+json":
        slug = " " + r.json()["type"].rsplit("/", 1)[1]
    print(f"| {label} | {r.status}{slug} | {cpu_seconds(pid) - cpu:.2f} | "
          f"{(server.hwm_kb() - hwm) / 1024:.0f} | {wall:.2f} |", flush=True)


def colour_original(width, height):
    """A colour JPEG of width x height, made by imgd's own pipeline from a corpus photo."""
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.jpg")
        out = os.path.join(d, "out.jpg")
        with open(src, "wb") as f:
            f.write(corpus_bytes("real/real_02_honeybee_1620x1280.jpg"))
        subprocess.run([IMGD_BIN, "transform", src, "-o", out, "--w", str(width), "--h",
                        str(height), "--fit", "fill", "--enlarge"], check=True,
                       capture_output=True)
        with open(out, "rb") as f:
            return f.read()


def transforms(skip_huge):
    server = Server(nodes=1).start()
    try:
        key = server.create_user("x")["apiKey"]
        tall = server.upload(colour_original(1000, 4000), key).json()["imageId"]
        get = lambda q: lambda: server.request("GET", f"/v1/images/{tall}/content?{q}")  # noqa
        cost(server, "1000x4000 colour, `w=8192&enlarge=true`", get("w=8192&enlarge=true"))
        cost(server, "1000x4000 colour, `w=8192&h=1&enlarge=true` (cover)",
             get("w=8192&h=1&enlarge=true"))
        cost(server, "1000x4000 colour, `w=300` (a thumbnail, for scale)", get("w=300"))
        if not skip_huge:
            huge = server.upload(baseline(1000, 65500), key).json()["imageId"]
            cost(server, "1000x65500 grey, `w=8192&enlarge=true`",
                 lambda: server.request("GET", f"/v1/images/{huge}/content?w=8192&enlarge=true"))
    finally:
        server.cleanup()


def uploads():
    server = Server(nodes=1).start()
    try:
        key = server.create_user("x")["apiKey"]
        cost(server, "upload: 100 MP, 883 valid scans (300 KB)",
             lambda: server.upload(progressive(10000, 10000, longest_progression(883)), key))
        cost(server, "upload: 100 MP, 200 scans without a DC scan (2.5 KB)",
             lambda: server.upload(progressive(10000, 10000, [(1, 63, 0, 0)] * 200), key))
        cost(server, "upload: 100 MP baseline at the pixel limit (1 MB, valid)",
             lambda: server.upload(baseline(10000, 10000), key))
        cost(server, "upload: a 24 MP photo (for scale)",
             lambda: server.upload(corpus_bytes(
                 "variants/v32_bench_24mp_upscaled_from_real09_6532x3675.jpg"), key))
    finally:
        server.cleanup()


def metric_series():
    server = Server(extra_args=["--rate-limit-ip", "0"], nodes=1).start()
    try:
        before = server.metrics().count("imgd_http_requests_total{")
        conn = server.conn()
        for i in range(300):
            server.request(f"XM{i:03d}", "/healthz", conn=conn)
        conn.close()
        after = server.metrics().count("imgd_http_requests_total{")
        print(f"| 300 made-up methods to /healthz | new `imgd_http_requests_total` series: "
              f"{after - before} | | | |")
    finally:
        server.cleanup()


def variant_disk():
    args = ["--variant-cache-bytes", "0"]
    help_text = subprocess.run([IMGD_BIN, "serve", "--help"], capture_output=True, text=True).stdout
    if "--variant-max-per-image" in help_text:  # older builds have no bound to set
        args += ["--variant-max-per-image", "20", "--variant-max-bytes-per-image", str(4 << 20)]
    server = Server(extra_args=args, nodes=1).start()
    try:
        key = server.create_user("x")["apiKey"]
        image = server.upload(corpus_bytes("real/real_04_colorfulcups_2560x1600.jpg"),
                              key).json()["imageId"]
        conn = server.conn()
        for _ in range(2):
            for w in range(100, 600):
                server.request("GET", f"/v1/images/{image}/content?w={w}", conn=conn)
        conn.close()
        deadline = time.monotonic() + 60
        root = os.path.join(server.data_dir, "blobs", "variants")
        while True:  # until the stores and evictions in flight have landed
            try:
                sizes = [os.path.getsize(os.path.join(d, f))
                         for d, _, fs in os.walk(root) for f in fs]
            except FileNotFoundError:
                continue  # evicted while listing
            entries = re.search(r"^imgd_variant_store_entries (\S+)$", server.metrics(), re.M)
            if (entries and float(entries.group(1)) == len(sizes)) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.1)
        files, size = sizes, sum(sizes)
        print(f"| 2 passes over 500 sizes of one 2560x1600 photo | {len(files)} variants, "
              f"{size / 1e6:.1f} MB on disk | | | |")
    finally:
        server.cleanup()


if __name__ == "__main__":
    print(f"imgd: {IMGD_BIN}\n")
    print("| request | answer | CPU s | peak RSS growth MB | wall s |")
    print("| --- | --- | --- | --- | --- |")
    transforms("--skip-huge" in sys.argv)
    uploads()
    metric_series()
    variant_disk()
