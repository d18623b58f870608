#!/usr/bin/env python3
"""The warm path alone: a stored 20 KB and 200 KB variant (and their 304s) from imgd beside
the same bytes from nginx's static sendfile location, and the instructions each spends per
request, counted by callgrind (user space only: the kernel's share is alike for both).

  python3 bench/warm.py [rates] [instructions] [--rounds N] [--seconds S]

Prints a table and writes nothing else; `make bench` runs the same warm cases in suite.py.
imgd keeps its access log, metrics and tracing on, as in production.
"""
import argparse
import glob
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

# The arguments are not a binary (benchlib would take argv[1] for one).
os.environ.setdefault("IMGD_BIN", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                               "../build/imgd"))
import benchlib  # noqa: E402,F401 (sets sys.path)
from harness import CORPUS, free_port  # noqa: E402
from peers import Imgd, Nginx  # noqa: E402
import workloads as wl  # noqa: E402
from suite import find_width  # noqa: E402

PHOTO = "real/real_08_sunset_4272x2848.jpg"
TARGETS = {"20KB": 20_000, "200KB": 200_000}


def setup(imgd, root):
    """Uploads the photo and picks the 20 and 200 KB variants as make bench does."""
    image_id = imgd.upload(open(os.path.join(CORPUS, PHOTO), "rb").read())
    objects = {}
    for label, target in TARGETS.items():
        width, _, _ = find_width(imgd, image_id, target)
        path = imgd.variant_path(image_id, width)
        status, headers, body = wl.fetch(imgd.port, path)
        assert status == 200
        with open(os.path.join(root, f"static-{label}.jpg"), "wb") as f:
            f.write(body)
        objects[label] = {"imgd": path, "nginx": f"/static/static-{label}.jpg",
                          "etag": headers["etag"], "bytes": len(body)}
    return objects


def cases(objects, nginx_etags):
    for label, obj in objects.items():
        yield label, obj, {}, {}
        yield (label + " 304", obj, {"If-None-Match": obj["etag"]},
               {"If-None-Match": nginx_etags[label]})


def rates(imgd, nginx, objects, rounds, seconds):
    etags = {l: wl.fetch(nginx.port, o["nginx"])[1]["etag"] for l, o in objects.items()}
    ratios = {}
    for rnd in range(rounds):
        for case, obj, ih, nh in cases(objects, etags):
            runs = [("imgd", imgd.port, obj["imgd"], ih), ("nginx", nginx.port, obj["nginx"], nh)]
            if rnd % 2:
                runs.reverse()
            got = {}
            for who, port, path, hdrs in runs:
                got[who] = wl.wrk(port, path, seconds, tuple(f"{k}: {v}" for k, v in hdrs.items()))
            ratios.setdefault(case, []).append((got["imgd"]["rate"], got["nginx"]["rate"]))
            print(f"round {rnd + 1} {case}: imgd {got['imgd']['rate']:.0f}/s, "
                  f"nginx {got['nginx']['rate']:.0f}/s, "
                  f"{got['imgd']['rate'] / got['nginx']['rate']:.2f}x", flush=True)
    print("\n| case | imgd req/s | nginx static req/s | imgd / nginx (median, range) |")
    print("| --- | --- | --- | --- |")
    for case, pairs in ratios.items():
        r = [a / b for a, b in pairs]
        print(f"| {case} | {statistics.median(a for a, _ in pairs):.0f} | "
              f"{statistics.median(b for _, b in pairs):.0f} | {statistics.median(r):.2f}x "
              f"({min(r):.2f}-{max(r):.2f}) |")


def keepalive_requests(port, path, headers, n):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(n):
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        r.read()
        assert r.status in (200, 304), r.status
    conn.close()


def control(pid, args, port, path, headers):
    """callgrind_control acts when the process next runs: a request wakes a server idle in
    epoll_wait (one extra request per window, against thousands)."""
    ctl = subprocess.Popen(["callgrind_control"] + args + [str(pid)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    while True:
        try:
            out = ctl.communicate(timeout=0.5)[0]
            break
        except subprocess.TimeoutExpired:
            keepalive_requests(port, path, headers, 1)
    if ctl.returncode != 0:
        raise RuntimeError(f"callgrind_control {args}: {out.decode()}")


def callgrind_total(out_file):
    text = open(out_file).read()
    m = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
    if not m:
        raise RuntimeError(f"no totals in {out_file}: {text[:500]}")
    return int(m.group(1))


def instructions(objects, root, n):
    """imgd and nginx (one process each) under callgrind: instructions per request, after a
    warm-up, over n keep-alive requests per case."""
    work = tempfile.mkdtemp(prefix="imgd-callgrind-")
    rows = {}
    try:
        os.environ["IMGD_WRAPPER"] = (f"valgrind --tool=callgrind --instr-atstart=no "
                                      f"--callgrind-out-file={work}/imgd.%p.out")
        imgd = Imgd().start()
        os.environ.pop("IMGD_WRAPPER")
        nginx_conf = os.path.join(work, "nginx.conf")
        nport = free_port()
        with open(nginx_conf, "w") as f:
            f.write(f"""daemon off;
master_process off;
worker_processes 1;
user root;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  open_file_cache max=1000 inactive=60s;
  server {{
    listen 127.0.0.1:{nport};
    location /static/ {{ alias {root}/; }}
  }}
}}
""")
        nginx = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                  f"--callgrind-out-file={work}/nginx.%p.out", "nginx", "-p",
                                  work, "-c", nginx_conf], stderr=subprocess.DEVNULL)
        try:
            _wait_port(nport)
            etags = {l: wl.fetch(nport, o["nginx"])[1]["etag"] for l, o in objects.items()}
            image_id = imgd.upload(open(os.path.join(CORPUS, PHOTO), "rb").read())
            for case, obj, ih, nh in cases(objects, etags):
                path = re.sub(r"/images/[^/]+/", f"/images/{image_id}/", obj["imgd"])
                _, headers, _ = wl.fetch(imgd.port, path)
                ih = {"If-None-Match": headers["etag"]} if ih else {}
                for who, pid, port, p, hdrs in (("imgd", imgd.pid, imgd.port, path, ih),
                                                ("nginx", nginx.pid, nport, obj["nginx"], nh)):
                    keepalive_requests(port, p, hdrs, 50)  # warm-up, uncounted
                    control(pid, ["-i", "on"], port, p, hdrs)
                    control(pid, ["-z"], port, p, hdrs)
                    keepalive_requests(port, p, hdrs, n)
                    before = set(glob.glob(f"{work}/{who}.*.out.*"))
                    control(pid, ["-d"], port, p, hdrs)
                    control(pid, ["-i", "off"], port, p, hdrs)
                    (dump,) = set(glob.glob(f"{work}/{who}.*.out.*")) - before
                    total = callgrind_total(dump)
                    rows.setdefault(case, {})[who] = total / n
        finally:
            nginx.kill()  # under valgrind, nginx without a master ignores TERM
            nginx.wait(60)
            imgd.stop()
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n| case | imgd instructions / request | nginx | ratio |  ({n} keep-alive requests)")
    print("| --- | --- | --- | --- |")
    for case, r in rows.items():
        print(f"| {case} | {r['imgd']:,.0f} | {r['nginx']:,.0f} | {r['imgd'] / r['nginx']:.1f}x |")
    return rows


def _wait_port(port):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nginx did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="*", default=["rates", "instructions"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="imgd-warm-")
    os.chmod(work, 0o755)
    root = os.path.join(work, "images")
    os.makedirs(root)
    imgd, nginx = Imgd().start(), Nginx(root).start()
    try:
        objects = setup(imgd, root)
        print({l: o["bytes"] for l, o in objects.items()})
        if "rates" in args.what:
            rates(imgd, nginx, objects, args.rounds, args.seconds)
    finally:
        imgd.stop()
        nginx.stop()
    if "instructions" in args.what:
        instructions(objects, root, args.requests)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
