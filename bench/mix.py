#!/usr/bin/env python3
"""The seed mix and its overload steps alone: the mix section of `make bench` (suite.py), with
the same imgd, pinning, CPU quota, rates and SLO, in a few minutes instead of the whole suite.

  python3 bench/mix.py [--rounds N] [--images N] [--rates 500,1000,...]

Writes bench/results/<UTC>-mix/report.md (the suite's mix tables and chart) and results.json.
"""
import argparse
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile

sys.argv, _args = sys.argv[:1], sys.argv[1:]  # benchlib reads argv[1] as a binary
import suite  # noqa: E402 (after the argv swap)
from suite import CFG, CORPUS, MIX_CPU_QUOTA, MIX_PIN, MIX_UPLOADS, log, wl  # noqa: E402
import report  # noqa: E402


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--images", type=int, default=CFG["mix_images"])
    ap.add_argument("--rates", default=",".join(str(r) for r in CFG["mix_rates"]))
    args = ap.parse_args(_args)
    CFG["mix_images"] = args.images
    CFG["mix_rates"] = tuple(int(r) for r in args.rates.split(","))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    outdir = os.path.join(suite.HERE, "results", stamp + "-mix")  # made once there are results
    work = tempfile.mkdtemp(prefix="imgd-mix-")
    os.chmod(work, 0o755)
    imgd = suite.start_mix_imgd()
    quota = None
    results = {"config": dict(CFG, upload_counts=None), "mix": []}
    try:
        uploads = [os.path.join(CORPUS, p) for p in MIX_UPLOADS]
        ctx = {"imgd_mix": imgd, "mix_uploads": uploads}
        log(f"mix: {args.images} images x {len(wl.MIX_SIZES)} sizes")
        ctx["mix_reads"], results["mix_setup"] = wl.mix_setup(
            imgd, [open(p, "rb").read() for p in uploads], args.images, work)
        quota = suite.cpu_quota(imgd.pid, MIX_CPU_QUOTA)
        results["mix_cpu"] = MIX_CPU_QUOTA if quota else 1.0
        for rnd in range(args.rounds):
            log(f"round {rnd + 1}/{args.rounds}")
            out = {}
            suite.run_mix(ctx, rnd, out)
            results["mix"].append(out)
    finally:
        imgd.stop()
        suite.drop_quota(quota)
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(outdir)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    lines = [f"# Seed mix and overload steps (bench/mix.py, imgd pinned to core "
             f"{MIX_PIN[0] if MIX_PIN else 0} with {results['mix_cpu']:g} of it)\n"]
    report.mix_section(results, lines.append)
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    report.mix_chart(results, outdir)
    log(f"done: {outdir}/report.md")


if __name__ == "__main__":
    main()
