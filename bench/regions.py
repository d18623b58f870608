#!/usr/bin/env python3
"""The three-region delivery simulation (tests/engines/regions.py) at full size: uploads
from every region, Zipf (s = 1) reads of >= 2,000 variants by viewers in every region
through their region's Varnish edge, purge latency on delete (with an edge cut off and
brought back) and on a switch to private, and what the edges serve with every origin dead.

Regions A (origin: imgd, Cassandra dc1, S3), B (imgd on Cassandra dc2, edge) and C (edge)
are loopback ranges joined by Toxiproxy links: client-edge 5 ms, A-B 40, A-C 90, B-C 120 ms
one way. Prints a Markdown report.
Usage: bench/regions.py [build/imgd]   (VARIANTS, READS per region, UPLOADS per region)
"""
import os
import sys
import time

from benchlib import pct  # noqa: F401,E402 (sets IMGD_BIN first)
from harness import ADMIN_KEY, CORPUS, IMGD_CQL_BIN  # noqa: E402
from region_workload import run  # noqa: E402
from regions import CLIENT_MS, ONE_WAY_MS, Regions  # noqa: E402

VARIANTS = int(os.environ.get("VARIANTS", "2000"))
READS = int(os.environ.get("READS", "3000"))
UPLOADS = int(os.environ.get("UPLOADS", "20"))


def ms(seconds):
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def main():
    t0 = time.monotonic()
    regions = Regions(os.environ["IMGD_BIN"], IMGD_CQL_BIN, ADMIN_KEY).start()
    try:
        out = run(regions, CORPUS, images_per_region=4, variants=VARIANTS,
                  reads_per_region=READS, threads=2, cut_seconds=5, uploads_per_region=UPLOADS,
                  log=lambda m: print("#", m, file=sys.stderr))
    finally:
        regions.stop()
    reads = out["reads"]
    print(f"# Three-region delivery simulation ({time.strftime('%Y-%m-%d', time.gmtime())})\n")
    print(f"Links, one way: client-edge {CLIENT_MS} ms, " +
          ", ".join(f"{a}-{b} {v} ms" for (a, b), v in ONE_WAY_MS.items()) +
          f". Topology up in {regions.timings['start_s']:.0f} s; whole run "
          f"{time.monotonic() - t0:.0f} s. One machine (2 cores) runs every process.\n")
    print(f"## Reads: Zipf s=1 over {reads['variants']} variants, {READS} per region, "
          f"2 viewers per region ({reads['distinct_read']} distinct variants read, "
          f"{reads['seconds']:.0f} s)\n")
    print("| region | reads | errors | edge hit ratio | cold p50 | cold p99 | warm p50 | "
          "warm p99 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r, row in reads["regions"].items():
        print(f"| {r} | {row['reads']} | {row['errors']} | {row['hit_ratio']:.1%} | "
              f"{ms(row['cold_p50'])} ms | {ms(row['cold_p99'])} ms | {ms(row['warm_p50'])} ms | "
              f"{ms(row['warm_p99'])} ms |")
    print(f"\nAll regions: edge hit ratio {reads['hit_ratio']:.1%}. Cold = the edge's first "
          "touch (X-Cache MISS: fetched from the origin, made there if no node had it).\n")
    print("## Uploads (through the region's edge to its origin: A and C to imgd A, B to imgd B)"
          "\n")
    print("| region | uploads | p50 | p99 |")
    print("| --- | --- | --- | --- |")
    for r, row in out["uploads"].items():
        print(f"| {r} | {row['count']} | {ms(row['p50'])} ms | {ms(row['p99'])} ms |")
    down = out["purge_with_edge_down"]
    print("\n## Purges (delete or private in region A; polled at every edge every 20 ms)\n")
    print(f"- delete -> every edge 404: {out['purge_delete_s']:.2f} s")
    print(f"- private -> every edge 403 for the public URL: {out['purge_private_s']:.2f} s")
    print(f"- delete with edge C cut off from both imgd nodes for {down['cut_s']} s: edges A and "
          f"B 404 after {down['others_s']:.2f} s; edge C answered {down['served_while_cut']} "
          f"while cut; 404 {down['after_restore_s']:.2f} s after the link was back "
          f"({down['after_delete_s']:.2f} s after the delete)")
    print("\n## Every origin killed (imgd A and B, SIGKILL)\n")
    print("| region | cached variants asked | served (200) | uncached asked | clean 503 | "
          "503 p99 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r, row in out["origins_killed"].items():
        print(f"| {r} | {row['cached']} | {row['served']} | {row['uncached']} | "
              f"{row['clean_503']} | {ms(row['p99_503'])} ms |")


if __name__ == "__main__":
    main()
