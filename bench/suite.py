#!/usr/bin/env python3
"""imgd beside the tools users would pick instead, in one run (bench/run.sh starts this).

Rounds (3, or 1 with QUICK=1); within each round the contenders take turns case by case, in
an order that rotates, so drift on this shared machine hits everyone alike. Every imgd figure
is divided by each peer's figure from the same round; the report gives the median of those
ratios over the rounds and their spread. Writes bench/results/<UTC>/report.md, results.json
and PNG charts.
"""
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import benchlib  # noqa: F401 (sets sys.path and IMGD_BIN)
import formats
from benchlib import HERE, unique
from harness import CORPUS
import peers
from peers import Imgd, Ipx, Nginx
import report
import workloads as wl

QUICK = os.environ.get("QUICK") == "1"

# How much of everything; QUICK only checks the wiring.
if QUICK:
    CFG = dict(rounds=1, inputs=("12mp",), widths=(300,), concs=(1, 2), point_s=0.4,
               point_max=40, wrk_s=1, upload_counts={1: 3, 8: 1, 32: 1}, big_mb=64,
               mix_images=100, mix_rates=(200, 1000), mix_step_s=2, mix_bisect=0)
else:
    CFG = dict(rounds=3, inputs=("2mp", "12mp", "20mp", "phone12"), widths=(300, 1200),
               concs=(1, 2), point_s=2.5, point_max=400, wrk_s=5,
               upload_counts={1: 20, 8: 8, 32: 4}, big_mb=1000, mix_images=2000,
               mix_rates=(500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 13000, 16000),
               mix_step_s=10, mix_bisect=2)

INPUTS = {
    "2mp": ("2 MP (real_02, 1620x1280)", "real/real_02_honeybee_1620x1280.jpg"),
    "12mp": ("12 MP (real_08, 4272x2848, progressive)", "real/real_08_sunset_4272x2848.jpg"),
    "20mp": ("20 MP (real_09, 6028x3391)", "real/real_09_kleiber_6028x3391.jpg"),
    "phone12": ("phone-like 12 MP (4000x3000, q95 4:2:0, made from real_09)", None),
}
COLD_PEERS = ("imgd", "sharp", "ipx", "nginx", "vips", "im", "im-hint")
PEER_LABELS = {
    "imgd": "imgd (HTTP)", "sharp": "sharp (in-process)", "ipx": "ipx (HTTP)",
    "nginx": "nginx image_filter (HTTP)", "vips": "libvips 8.14 C++ loop (floor)",
    "im": "ImageMagick convert", "im-hint": "ImageMagick convert + size hint",
    "nginx-static": "nginx static sendfile",
}
MIX_UPLOADS = ("real/real_01_skagen_800x533.jpg", "real/real_02_honeybee_1620x1280.jpg",
               "real/real_03_storm_1920x1280.jpg", "real/real_04_colorfulcups_2560x1600.jpg",
               "real/real_05_wood_2560x1920.jpg", "real/real_06_after_the_rain_3000x1993.jpg",
               "real/real_07_chameleon_1306x1530.jpg")
UPLOAD_BYTES = 5_000_000
# Cores for the mix: imgd's, the generator's (none on a 1-core machine).
MIX_PIN = (0, 1) if (os.cpu_count() or 1) >= 2 else None
# Overload: offered rates as multiples of the capacity found.
OVERLOAD_STEPS = (1.5, 2.0)
# imgd's share of its core in the mix: the generator, alone on the other core, can offer about
# 6,500 req/s, less than imgd serves on a whole core, so past imgd's capacity could not be
# offered at all. At half a core (cgroup v1 cpu quota, 5 ms per 10 ms) 2x its capacity can.
MIX_CPU_QUOTA = 0.5
CGROUP_CPU = "/sys/fs/cgroup/cpu"


def cpu_quota(pid, cores):
    """Puts process pid in a cgroup limited to `cores` CPUs; returns the cgroup's path, or
    None when this machine has no writable cgroup v1 cpu controller."""
    path = os.path.join(CGROUP_CPU, f"imgd-bench-{pid}")
    try:
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
            f.write("10000")
        with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
            f.write(str(int(10000 * cores)))
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        return path
    except OSError as e:
        log(f"no CPU quota for the mix ({e}): imgd gets its whole core")
        return None


def drop_quota(path):
    if path:
        try:
            os.rmdir(path)  # empty once imgd has exited
        except OSError:
            pass


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def jpeg_size(path):
    out = subprocess.run(["vipsheader", "-f", "width", path], capture_output=True, text=True,
                         check=True).stdout.strip()
    h = subprocess.run(["vipsheader", "-f", "height", path], capture_output=True, text=True,
                       check=True).stdout.strip()
    return int(out), int(h)


def make_inputs(root):
    """The input files (whole-second mtimes: ipx compares If-Modified-Since in ms), two copies
    of each so two clients never ask for the same object (no request coalescing anywhere)."""
    files = {}
    for name in CFG["inputs"]:
        src = os.path.join(root, f"{name}.jpg")
        if INPUTS[name][1]:
            shutil.copyfile(os.path.join(CORPUS, INPUTS[name][1]), src)
        else:
            subprocess.run(["vips", "thumbnail", os.path.join(CORPUS, INPUTS["20mp"][1]),
                            src + "[Q=95,subsample_mode=on,strip]", "4000", "--height", "3000",
                            "--crop", "centre"], check=True)
        for copy in range(2):
            shutil.copyfile(src, os.path.join(root, f"{name}-{copy}.jpg"))
        files[name] = src
    now = int(time.time()) - 10
    for f in os.listdir(root):
        os.utime(os.path.join(root, f), (now, now))
    return files


def upload_photo(root):
    """A 5 MB phone photo: the phone-like 12 MP q95 JPEG, padded with a comment segment to
    exactly 5,000,000 bytes if it came out smaller."""
    path = os.path.join(root, "upload-5mb.jpg")
    src = os.path.join(root, "phone12.jpg")
    if not os.path.exists(src):
        subprocess.run(["vips", "thumbnail", os.path.join(CORPUS, INPUTS["20mp"][1]),
                        src + "[Q=95,subsample_mode=on,strip]", "4000", "--height", "3000",
                        "--crop", "centre"], check=True)
    data = open(src, "rb").read()
    if len(data) < UPLOAD_BYTES:
        data = b"".join(wl.padded_jpeg_chunks(data, UPLOAD_BYTES))
    with open(path, "wb") as f:
        f.write(data)
    return data


class Profile:
    """perf record of one process while a workload runs; flat profile by library and symbol."""

    def __init__(self, pid, path):
        self.pid, self.path = pid, path

    def __enter__(self):
        self.proc = subprocess.Popen(["perf", "record", "-F", "499", "-p", str(self.pid), "-o",
                                      self.path], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # perf attaches asynchronously; not a test, a profile
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        def report(sort, limit):
            out = subprocess.run(["perf", "report", "-i", self.path, "--stdio", "--no-children",
                                  "--sort", sort, "--percent-limit", limit],
                                 capture_output=True, text=True, timeout=120).stdout
            return "\n".join(line for line in out.splitlines()
                             if line.strip() and not line.startswith("#"))
        # By library first (libjpeg's hot functions are static, so they show as addresses),
        # then the hottest symbols.
        self.text = (report("dso", "0.5") + "\n\n" + report("dso,sym", "1"))[:6000]
        return False


def cold_case(ctx, peer, name, width, conc):
    path = ctx["files"][name]
    secs, cap = CFG["point_s"], CFG["point_max"]
    if peer == "imgd":
        paths = [ctx["imgd"].variant_path(i, width) for i in ctx["imgd_ids"][name]]
        lat, rate = wl.http_closed_loop(ctx["imgd"].port, paths, conc, secs, cap)
        return wl.summary(lat, rate)
    if peer in ("ipx", "nginx"):
        server = ctx[peer]
        paths = [server.variant_path(f"{name}-{c}.jpg", width) for c in range(2)]
        lat, rate = wl.http_closed_loop(server.port, paths, conc, secs, cap)
        return wl.summary(lat, rate)
    if peer == "sharp":
        lat, rate, rss, ver = peers.sharp_loop(path, width, conc, secs, cap)
        ctx["versions"]["sharp (measured)"] = ver
        return wl.summary(lat, rate, rss_kb=rss)
    if peer == "vips":
        lat, rate, rss, _ = peers.vips_loop(path, width, conc, secs, cap)
        return wl.summary(lat, rate, rss_kb=rss)
    w, h = ctx["dims"][name]
    lat, rate, rss = peers.convert_loop(path, width, round(width * h / w), conc, secs, cap,
                                        peer == "im-hint", ctx["scratch"])
    return wl.summary(lat, rate, rss_kb=rss)


def run_cold(ctx, rnd, out):
    cases = [(n, w, c) for n in CFG["inputs"] for w in CFG["widths"] for c in CFG["concs"]]
    for i, (name, width, conc) in enumerate(cases):
        shift = (rnd + i) % len(COLD_PEERS)
        order = COLD_PEERS[shift:] + COLD_PEERS[:shift]
        key = f"{name}/{width}/{conc}"
        out[key] = {}
        for peer in order:
            out[key][peer] = cold_case(ctx, peer, name, width, conc)
        log(f"  cold {key}: " + ", ".join(f"{p} {out[key][p]['rate']:.1f}" for p in COLD_PEERS))


def find_width(imgd, image_id, target_bytes):
    """The variant width whose q80 JPEG is closest to target_bytes (sizes grow with width)."""
    lo, hi, best = 32, 4000, None
    while lo <= hi:
        mid = (lo + hi) // 2
        _, _, body = wl.fetch(imgd.port, imgd.variant_path(image_id, mid))
        if best is None or abs(len(body) - target_bytes) < abs(best[1] - target_bytes):
            best = (mid, len(body), body)
        if len(body) < target_bytes:
            lo = mid + 1
        else:
            hi = mid - 1
    return best


def setup_warm(ctx, root, widths=None):
    """Picks the 20 KB and 200 KB variants of the 12 MP photo on this round's imgd (the widths
    found in the first round are reused) and writes the same bytes as static files for
    nginx."""
    imgd = ctx["imgd_warm"]
    image_id = imgd.upload(open(os.path.join(CORPUS, INPUTS["12mp"][1]), "rb").read())
    objects = {}
    for label, target in (("20KB", 20_000), ("200KB", 200_000)):
        if widths:
            width = widths[label]
            _, _, body = wl.fetch(imgd.port, imgd.variant_path(image_id, width))
            size = len(body)
        else:
            width, size, body = find_width(imgd, image_id, target)
        name = f"static-{label}.jpg"
        with open(os.path.join(root, name), "wb") as f:
            f.write(body)
        objects[label] = {"imgd_path": imgd.variant_path(image_id, width),
                          "nginx_path": f"/static/{name}", "bytes": size, "width": width,
                          "sha256": wl.sha256(body)}
    return objects


def run_warm(ctx, rnd, out):
    imgd, nginx = ctx["imgd_warm"], ctx["nginx"]
    for label, obj in ctx["warm_objects"].items():
        cases = {label: [], label + " 304": []}
        for server, path in ((imgd, obj["imgd_path"]), (nginx, obj["nginx_path"])):
            status, headers, body = wl.fetch(server.port, path)
            assert status == 200 and wl.sha256(body) == obj["sha256"], (server.name, status)
            inm = f"If-None-Match: {headers['etag']}"
            status, _, _ = wl.fetch(server.port, path, {"If-None-Match": headers["etag"]})
            assert status == 304, (server.name, status)
            cases[label].append((server, path, ()))
            cases[label + " 304"].append((server, path, (inm,)))
        for case, runs in cases.items():
            if rnd % 2:
                runs.reverse()
            out[case] = {}
            for server, path, hdrs in runs:
                peer = "imgd" if server is imgd else "nginx-static"
                out[case][peer] = wl.wrk(server.port, path, CFG["wrk_s"], hdrs)
            log(f"  warm {case}: imgd {out[case]['imgd']['rate']:.0f}/s, "
                f"nginx {out[case]['nginx-static']['rate']:.0f}/s")


def run_uploads(photo, out):
    imgd = Imgd().start()
    try:
        for clients, per in CFG["upload_counts"].items():
            out[str(clients)] = wl.upload_run(imgd, photo, clients, per)
            r = out[str(clients)]
            log(f"  upload 5 MB x{clients}: p50 {r['p50']:.1f} p99 {r['p99']:.1f} ms, "
                f"{r['mb_per_s']:.1f} MB/s")
        out["peak_rss_mb"] = imgd.peak_rss_kb() / 1024
    finally:
        imgd.stop()


def mix_step(ctx, rate):
    return wl.mix_step(ctx["imgd_mix"], ctx["mix_reads"], ctx["mix_uploads"], rate,
                       CFG["mix_step_s"], cpu=MIX_PIN[1] if MIX_PIN else None)


def run_mix(ctx, rnd, out):
    imgd = ctx["imgd_mix"]
    steps, passed, failed = [], None, None
    for rate in CFG["mix_rates"]:
        step = mix_step(ctx, rate)
        step["holds"] = wl.mix_holds(step)
        steps.append(step)
        log(f"  mix {rate}/s: read p99 {step['read']['p99']:.1f} ms, upload p99 "
            f"{step['upload']['p99']:.1f} ms, achieved {step['achieved_rate']:.0f}/s, "
            f"{'holds' if step['holds'] else 'misses'} the SLO")
        if not step["holds"]:
            failed = rate
            break
        passed = rate
    for _ in range(CFG["mix_bisect"] if failed and passed else 0):
        drain(imgd)  # the failed step's backlog must not count against the next one
        rate = int((passed + failed) / 2)
        step = mix_step(ctx, rate)
        step["holds"] = wl.mix_holds(step)
        steps.append(step)
        log(f"  mix {rate}/s (bisect): read p99 {step['read']['p99']:.1f} ms, "
            f"{'holds' if step['holds'] else 'misses'}")
        if step["holds"]:
            passed = rate
        else:
            failed = rate
    out["steps"] = sorted(steps, key=lambda s: s["offered_rate"])
    out["capacity"] = passed or 0
    out["first_miss"] = failed
    drain(imgd)
    # Past capacity: what imgd takes must still meet the SLO, the rest a fast 503.
    out["overload"] = []
    for factor in OVERLOAD_STEPS if passed else ():
        step = mix_step(ctx, int(passed * factor))
        step["factor"] = factor
        step["goodput"] = (step["read"]["ok"] + step["upload"]["ok"]) / CFG["mix_step_s"]
        out["overload"].append(step)
        r, u = step["read"], step["upload"]
        log(f"  overload {factor}x ({int(passed * factor)}/s): goodput {step['goodput']:.0f}/s, "
            f"accepted read p99 {r['ok_p99']:.1f} ms, upload p99 {u['ok_p99']:.1f} ms, "
            f"503s {r['shed'] + u['shed']}")
        drain(imgd)


def start_mix_imgd():
    """The mix's imgd, shedding at 20 ms. Its four sizes are the site's presets, kept in the
    store as soon as they are made. imgd and the generator get a core each: sharing both, the
    generator saturated first and its own backlog was what the percentiles measured."""
    if MIX_PIN:
        os.environ["IMGD_WRAPPER"] = f"taskset -c {MIX_PIN[0]}"
    try:
        return Imgd(extra_args=["--allowed-sizes", ",".join(f"{w}x" for w in wl.MIX_SIZES)],
                    shed_ms=20).start()
    finally:
        os.environ.pop("IMGD_WRAPPER", None)


def drain(imgd, timeout=120):
    """Waits until imgd has no request in flight but the one asking (after an overload)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, _, body = wl.fetch(imgd.port, "/metrics")
        m = re.search(rb"^imgd_http_requests_in_flight (\d+)", body, re.M)
        if m and int(m.group(1)) <= 1:
            return
        time.sleep(0.2)


def main():
    # A stopped run still stops what it started: SIGTERM unwinds like Ctrl-C, through every
    # finally block that stops a server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    outdir = os.path.join(HERE, "results", stamp + ("-quick" if QUICK else ""))
    os.makedirs(outdir)
    work = tempfile.mkdtemp(prefix="imgd-bench-")
    os.chmod(work, 0o755)
    root = os.path.join(work, "images")
    os.makedirs(root)
    started = time.time()
    ctx = {"versions": peers.versions(), "scratch": work}
    log(f"results in {outdir}")
    ctx["files"] = make_inputs(root)
    ctx["dims"] = {n: jpeg_size(p) for n, p in ctx["files"].items()}
    photo = upload_photo(work)
    results = {"config": {k: v for k, v in CFG.items()}, "quick": QUICK,
               "inputs": {n: {"label": INPUTS[n][0], "bytes": os.path.getsize(p),
                              "dims": ctx["dims"][n]} for n, p in ctx["files"].items()},
               "upload_bytes": len(photo), "cold": [], "cold_rss": [], "warm": [],
               "uploads": [], "mix": [], "profiles": {}}
    results["config"]["upload_counts"] = {str(k): v for k, v in CFG["upload_counts"].items()}

    mix_imgd = start_mix_imgd()
    quota = None
    try:
        log(f"mix: {CFG['mix_images']} images x {len(wl.MIX_SIZES)} sizes")
        ctx["imgd_mix"] = mix_imgd
        ctx["mix_uploads"] = [os.path.join(CORPUS, p) for p in MIX_UPLOADS]
        ctx["mix_reads"], results["mix_setup"] = wl.mix_setup(
            mix_imgd, [open(p, "rb").read() for p in ctx["mix_uploads"]], CFG["mix_images"],
            work)
        # The quota from here on: making the 8,000 variants is setup, not the measurement.
        quota = cpu_quota(mix_imgd.pid, MIX_CPU_QUOTA)
        results["mix_cpu"] = MIX_CPU_QUOTA if quota else 1.0
        for rnd in range(CFG["rounds"]):
            log(f"round {rnd + 1}/{CFG['rounds']}")
            servers = {"imgd": Imgd(cold=True), "imgd_warm": Imgd(), "nginx": Nginx(root),
                       "ipx": Ipx(root)}
            try:
                for key, server in servers.items():
                    ctx[key] = server.start()
                ctx["imgd_ids"] = {n: [ctx["imgd"].upload(unique(open(p, "rb").read()))
                                       for _ in range(2)] for n, p in ctx["files"].items()}
                cold, warm, uploads, mix = {}, {}, {}, {}
                run_cold(ctx, rnd, cold)
                rss = {p: max(c[p].get("rss_kb", 0) for c in cold.values())
                       for p in ("sharp", "vips", "im", "im-hint")}
                rss.update({p: ctx[p].peak_rss_kb() for p in ("imgd", "ipx", "nginx")})
                widths = ({k: v["width"] for k, v in ctx["warm_objects"].items()}
                          if rnd else None)
                ctx["warm_objects"] = setup_warm(ctx, root, widths)
                results["warm_objects"] = ctx["warm_objects"]
                run_warm(ctx, rnd, warm)
            finally:
                for server in servers.values():
                    server.stop()
            run_uploads(photo, uploads)
            run_mix(ctx, rnd, mix)
            results["cold"].append(cold)
            results["cold_rss"].append(rss)
            results["warm"].append(warm)
            results["uploads"].append(uploads)
            results["mix"].append(mix)

        log(f"one {CFG['big_mb']} MB upload")
        big = Imgd(extra_args=["--max-upload-bytes", str(2 << 30)]).start()
        try:
            results["big_upload"] = wl.big_upload(
                big, open(os.path.join(CORPUS, INPUTS["2mp"][1]), "rb").read(),
                CFG["big_mb"] * 1_000_000)
            results["big_upload"]["bytes"] = CFG["big_mb"] * 1_000_000
        finally:
            big.stop()

        if not QUICK:
            profile_misses(ctx, results, photo, outdir)
    finally:
        mix_imgd.stop()
        drop_quota(quota)
    results["versions"] = ctx["versions"]
    results["elapsed_s"] = time.time() - started
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    report.write(results, outdir)
    # Variant formats: bytes per format and cold rates beside sharp's WebP / AVIF.
    with open(os.path.join(outdir, "report.md"), "a") as f:
        f.write("\n" + formats.run(2 if QUICK else 10))
    shutil.rmtree(work, ignore_errors=True)
    log(f"done in {time.time() - started:.0f} s: {outdir}/report.md")


def profile_misses(ctx, results, photo, outdir):
    """Where the time goes, for each target the run missed: perf on the imgd process while the
    workload that missed runs again."""
    head = report.headline(results)
    if not head["cold_sharp_met"] or not head["cold_ipx_met"]:
        imgd = Imgd(cold=True).start()
        try:
            ids = [imgd.upload(unique(open(ctx["files"]["12mp"], "rb").read())) for _ in range(2)]
            paths = [imgd.variant_path(i, 300) for i in ids]
            with Profile(imgd.pid, os.path.join(outdir, "perf-cold.data")) as p:
                wl.http_closed_loop(imgd.port, paths, 2, 8, 10_000)
            results["profiles"]["cold transforms (12 MP to 300 px, 2 clients)"] = p.text
        finally:
            imgd.stop()
    if not head["warm_met"]:
        case = min(head["warm"], key=head["warm"].get)  # the worst ratio
        label = case.split()[0]
        imgd = Imgd().start()
        try:
            image_id = imgd.upload(open(os.path.join(CORPUS, INPUTS["12mp"][1]), "rb").read())
            path = imgd.variant_path(image_id, ctx["warm_objects"][label]["width"])
            _, headers, _ = wl.fetch(imgd.port, path)
            hdrs = (f"If-None-Match: {headers['etag']}",) if case.endswith("304") else ()
            with Profile(imgd.pid, os.path.join(outdir, "perf-warm.data")) as p:
                wl.wrk(imgd.port, path, 5, hdrs)
            results["profiles"][f"warm delivery, {case}"] = p.text
        finally:
            imgd.stop()
    if not head["upload_met"]:
        imgd = Imgd().start()
        try:
            with Profile(imgd.pid, os.path.join(outdir, "perf-upload.data")) as p:
                wl.upload_run(imgd, photo, 8, 6)
            results["profiles"]["uploads (5 MB, 8 clients)"] = p.text
        finally:
            imgd.stop()
    if not head["mix_met"]:
        imgd = ctx["imgd_mix"]
        rate = max(results["mix"][-1]["first_miss"] or 0, 5000)
        with Profile(imgd.pid, os.path.join(outdir, "perf-mix.data")) as p:
            wl.mix_step(imgd, ctx["mix_reads"], ctx["mix_uploads"], rate, 8)
        results["profiles"][f"seed mix at {rate} req/s"] = p.text
    for f in os.listdir(outdir):
        if f.endswith(".data"):
            os.remove(os.path.join(outdir, f))  # large; the text above is what is kept


if __name__ == "__main__":
    sys.exit(main())
