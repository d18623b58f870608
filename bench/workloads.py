"""The four workloads of the suite: cold transforms, warm delivery, uploads, the seed's mix.
Each function runs one bounded measurement and returns plain numbers (ms, per second, KiB)."""
import concurrent.futures
import hashlib
import http.client
import json
import os
import random
import re
import subprocess
import threading
import time

from benchlib import pct, unique
from peers import BUILD, run_measured
from test_large import padded_jpeg_chunks


def summary(latencies_ms, rate, **extra):
    out = {"rate": rate, "n": len(latencies_ms),
           "p50": pct(latencies_ms, 50) if latencies_ms else None,
           "p99": pct(latencies_ms, 99) if latencies_ms else None}
    out.update(extra)
    return out


# --- cold transforms over HTTP -------------------------------------------------------------

def http_closed_loop(port, paths, conc, seconds, max_requests):
    """conc keep-alive clients; client i asks for paths[i % len(paths)] again and again until
    the time or the request budget is spent. Every answer must be a 200 with a JPEG body."""
    lock = threading.Lock()
    latencies = []
    started = [0]
    end = time.time() + seconds

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        path = paths[i % len(paths)]
        while time.time() < end:
            with lock:
                if started[0] >= max_requests:
                    break
                started[0] += 1
            t = time.perf_counter()
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            ms = (time.perf_counter() - t) * 1000
            if r.status != 200 or body[:2] != b"\xff\xd8":
                raise RuntimeError(f"{path}: {r.status} {body[:200]!r}")
            with lock:
                latencies.append(ms)
        conn.close()

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(conc) as ex:
        list(ex.map(client, range(conc)))
    return latencies, len(latencies) / (time.perf_counter() - t0)


# --- warm delivery with wrk ----------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(port, path, seconds, headers=(), threads=2, connections=64):
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                         check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        lat[p] = float(v) * _UNITS[u]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or errors:
        raise RuntimeError(f"wrk against {path}: {out}")
    return {"rate": rps, "p50": lat.get("50"), "p99": lat.get("99")}


def fetch(port, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


# --- uploads -------------------------------------------------------------------------------

def upload_run(imgd, photo, clients, per_client):
    """clients concurrent keep-alive clients, each uploading per_client unique copies."""
    def client(_):
        conn = imgd.server.conn()
        times = []
        for _ in range(per_client):
            body = unique(photo)
            t = time.perf_counter()
            r = imgd.server.upload(body, imgd.key, conn=conn)
            times.append((time.perf_counter() - t) * 1000)
            if r.status != 201:
                raise RuntimeError(f"upload: {r.status} {r.body[:200]!r}")
        conn.close()
        return times

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        times = [t for ts in ex.map(client, range(clients)) for t in ts]
    wall = time.perf_counter() - t0
    return summary(times, len(times) / wall, mb_per_s=len(photo) * len(times) / wall / 1e6)


def big_upload(imgd, base, size):
    """One direct upload of `size` bytes, streamed from the client; time and server peak RSS."""
    conn = imgd.server.conn(timeout=600)
    t = time.perf_counter()
    conn.request("POST", "/v1/images", body=padded_jpeg_chunks(base, size),
                 headers={"Content-Type": "image/jpeg", "Content-Length": str(size),
                          "Authorization": "Bearer " + imgd.key})
    r = conn.getresponse()
    body = r.read()
    seconds = time.perf_counter() - t
    conn.close()
    if r.status != 201:
        raise RuntimeError(f"big upload: {r.status} {body[:300]!r}")
    return {"seconds": seconds, "mb_per_s": size / seconds / 1e6,
            "peak_rss_mb": imgd.peak_rss_kb() / 1024}


# --- the seed's mix ------------------------------------------------------------------------

MIX_SIZES = (160, 320, 640, 1024)


def mix_setup(imgd, photos, images, workdir):
    """Uploads `images` unique images (round-robin over photos), asks once for each of their 4
    variants (so reads are warm, as on a running service), and writes the read paths in a
    random popularity order for the load generator."""
    def up(i):
        return imgd.upload(unique(photos[i % len(photos)]))

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        ids = list(ex.map(up, range(images)))
    upload_s = time.perf_counter() - t0
    paths = [f"/v1/images/{i}/content?w={w}" for i in ids for w in MIX_SIZES]

    def warm(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", imgd.port, timeout=120)
        for p in chunk:
            for _ in range(30):  # a refusal (503, the core busy making variants) is retried
                conn.request("GET", p)
                r = conn.getresponse()
                r.read()
                if r.status != 503:
                    break
                time.sleep(float(r.getheader("Retry-After", "1")))
            if r.status != 200:
                raise RuntimeError(f"{p}: {r.status}")
        conn.close()

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        list(ex.map(warm, [paths[i::4] for i in range(4)]))
    warm_s = time.perf_counter() - t0
    random.Random(7).shuffle(paths)
    reads = os.path.join(workdir, "mix-reads.txt")
    with open(reads, "w") as f:
        f.write("\n".join(paths) + "\n")
    return reads, {"upload_s": upload_s, "warm_s": warm_s, "variants": len(paths)}


def mix_step(imgd, reads, upload_files, rate, seconds, timeout=10, cpu=None):
    """One open-loop step; cpu pins the generator to that core (taskset)."""
    cmd = (["taskset", "-c", str(cpu)] if cpu is not None else []) + [
        os.path.join(BUILD, "imgd-loadgen"), "--port", str(imgd.port), "--rate", str(rate),
        "--seconds", str(seconds), "--reads", reads, "--key", imgd.key,
        "--upload-every", "101", "--timeout", str(timeout), "--max-conns", "1024",
        "--seed", str(rate)]
    for f in upload_files:
        cmd += ["--upload", f]
    t0 = os.times()
    out, _ = run_measured(cmd, seconds + timeout + 60)
    t1 = os.times()
    d = json.loads(out)
    d["loadgen_cpu_s"] = (t1.children_user - t0.children_user) + (t1.children_system -
                                                                   t0.children_system)
    return d


def mix_holds(step, read_p99=500.0, upload_p99=1000.0):
    """The SLO: read p99 ≤ 500 ms, upload p99 ≤ 1 s, under 1% failed, the rate delivered."""
    r, u = step["read"], step["upload"]
    failed = sum(r["errors"].values()) + sum(u["errors"].values())
    sent = r["sent"] + u["sent"]
    return (r["p99"] <= read_p99 and (u["sent"] == 0 or u["p99"] <= upload_p99)
            and failed <= 0.01 * sent and step["achieved_rate"] >= 0.95 * step["offered_rate"])


def sha256(data):
    return hashlib.sha256(data).hexdigest()
