"""The delivery simulation's workload over Regions (regions.py): uploads from every region,
Zipf (s = 1) reads of variants from viewers in every region, purges on delete (with an edge
cut off and brought back) and on a switch to private, and the origins killed under the
edges. Returns what it measured; the test asserts the facts, bench/regions.py reports the
figures."""
import bisect
import json
import os
import random
import threading
import time

from regions import NET, Client


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def unique_jpeg(data):
    """The same picture with a random JPEG comment after SOI: new bytes, new image."""
    marker = os.urandom(8).hex().encode()
    return data[:2] + b"\xff\xfe" + (len(marker) + 2).to_bytes(2, "big") + marker + data[2:]


class Zipf:
    def __init__(self, n, s, rng):
        total, self.cdf = 0.0, []
        for k in range(1, n + 1):
            total += 1.0 / k ** s
            self.cdf.append(total)
        self.total, self.rng = total, rng

    def sample(self):
        return bisect.bisect_left(self.cdf, self.rng.random() * self.total)


def wait_for(check, what, timeout=60):
    """Polls an observable condition; returns the seconds it took."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - t0


class Simulation:
    def __init__(self, regions, corpus, seed=1, log=print):
        self.regions, self.log = regions, log
        self.rng = random.Random(seed)
        self.clients = {r: Client(a) for r, a in regions.client.items()}
        self.photos = [open(os.path.join(corpus, "real", f), "rb").read()
                       for f in sorted(os.listdir(os.path.join(corpus, "real")))
                       if f.endswith(".jpg")]
        self.out = {}

    def auth(self, extra=None):
        return dict(extra or {}, Authorization="Bearer " + self.key)

    # --- setup and uploads ---
    def create_user(self):
        s, user, _ = self.clients["A"].json("POST", "/v1/users",
                                            {"userName": "sim", "userEmail": "sim@example.com"},
                                            self.regions.admin_key)
        assert s == 201, (s, user)
        self.key = user["apiKey"]
        # Region B's origin answers from dc2: wait for the key to reach it.
        wait_for(lambda: self.clients["B"].request("GET", "/v1/images?limit=1",
                                                   headers=self.auth())[0] == 200,
                 "the user's key replicated to region B")

    def upload(self, region, data):
        s, h, b, t = self.clients[region].request(
            "POST", "/v1/images", data, self.auth({"Content-Type": "image/jpeg"}))
        assert s == 201, (region, s, b[:300])
        return json.loads(b)["imageId"], t

    def uploads(self, per_region):
        images, seconds = [], {r: [] for r in NET}
        for i in range(per_region):
            for r in NET:
                image, t = self.upload(r, unique_jpeg(self.photos[i % len(self.photos)]))
                images.append(image)
                seconds[r].append(t)
        self.replicated(images)
        self.out["uploads"] = {r: {"count": len(v), "p50": pct(v, 50), "p99": pct(v, 99)}
                               for r, v in seconds.items()}
        return images

    def replicated(self, images):
        """Every image readable at region B's origin, so no edge caches a 404 for it."""
        for image in images:
            wait_for(lambda: self.clients["B"].request("GET", f"/v1/images/{image}",
                                                       headers=self.auth())[0] == 200,
                     f"image {image} replicated to region B")

    # --- reads ---
    def reads(self, images, variants, per_region, threads):
        per_image = -(-variants // len(images))
        paths = [f"/v1/images/{im}/content?w={64 + 4 * i}" for im in images
                 for i in range(per_image)][:variants]
        self.rng.shuffle(paths)  # popularity rank = position
        self.paths = paths
        samples = {r: [] for r in NET}
        lock = threading.Lock()

        def viewer(region, count, seed):
            zipf = Zipf(len(paths), 1.0, random.Random(seed))
            mine = []
            for _ in range(count):
                path = paths[zipf.sample()]
                s, h, _, t = self.clients[region].request("GET", path)
                mine.append((path, s, h.get("x-cache", ""), t))
            with lock:
                samples[region].extend(mine)

        workers = [threading.Thread(target=viewer,
                                    args=(r, per_region // threads, self.rng.random()))
                   for r in NET for _ in range(threads)]
        t0 = time.monotonic()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.monotonic() - t0
        table = {}
        for r, got in samples.items():
            cold = [t for _, s, c, t in got if c == "MISS"]
            warm = [t for _, s, c, t in got if c == "HIT"]
            table[r] = {"reads": len(got), "errors": sum(1 for _, s, _, _ in got if s != 200),
                        "hit_ratio": len(warm) / max(1, len(got)),
                        "cold_p50": pct(cold, 50), "cold_p99": pct(cold, 99),
                        "warm_p50": pct(warm, 50), "warm_p99": pct(warm, 99)}
        total = sum(len(v) for v in samples.values())
        hits = sum(1 for v in samples.values() for _, _, c, _ in v if c == "HIT")
        self.out["reads"] = {"regions": table, "variants": len(paths),
                             "distinct_read": len({p for v in samples.values()
                                                   for p, _, _, _ in v}),
                             "hit_ratio": hits / max(1, total), "seconds": wall}
        self.cached = {r: sorted({p for p, s, c, _ in v if c == "HIT"}) for r, v in
                       samples.items()}

    # --- purges ---
    def warm(self, path):
        for r in NET:
            for _ in range(2):
                s, h, _, _ = self.clients[r].request("GET", path)
                assert s == 200, (r, path, s)
            assert h.get("x-cache") == "HIT", (r, h)

    def status(self, region, path):
        return self.clients[region].request("GET", path)[0]

    def all_edges(self, path, status, timeout=60, regions=NET):
        return wait_for(lambda: all(self.status(r, path) == status for r in regions),
                        f"{path} answered {status} at edges {list(regions)}", timeout)

    def fresh_image(self):
        image, _ = self.upload("A", unique_jpeg(self.photos[0]))
        self.replicated([image])
        path = f"/v1/images/{image}/content?w=320"
        self.warm(path)
        return image, path

    def delete(self, image):
        s, _, b, _ = self.clients["A"].request("DELETE", f"/v1/images/{image}",
                                               headers=self.auth())
        assert s == 204, (s, b[:300])

    def purges(self, cut_seconds):
        image, path = self.fresh_image()
        t0 = time.monotonic()
        self.delete(image)
        every = self.all_edges(path, 404)
        self.out["purge_delete_s"] = time.monotonic() - t0 if every is not None else None

        # Edge C cut off from both imgd nodes while the image is deleted.
        image, path = self.fresh_image()
        self.regions.cut_purges("C", False)
        try:
            t0 = time.monotonic()
            self.delete(image)
            others = self.all_edges(path, 404, regions=("A", "B"))
            # The outage lasts cut_seconds; edge C keeps its (deleted) copy all along.
            seen = {self.status("C", path)}
            while time.monotonic() - t0 < cut_seconds:
                seen.add(self.status("C", path))
            served_while_cut = sorted(seen)
        finally:
            self.regions.cut_purges("C", True)
        t1 = time.monotonic()
        self.all_edges(path, 404, timeout=120, regions=("C",))
        self.out["purge_with_edge_down"] = {
            "others_s": others, "cut_s": cut_seconds, "served_while_cut": served_while_cut,
            "after_restore_s": time.monotonic() - t1, "after_delete_s": time.monotonic() - t0}

        image, path = self.fresh_image()
        t0 = time.monotonic()
        s, _, b, _ = self.clients["A"].request(
            "PATCH", f"/v1/images/{image}", b'{"visibility":"private"}',
            self.auth({"Content-Type": "application/json"}))
        assert s == 200, (s, b[:300])
        self.all_edges(path, 403)
        self.out["purge_private_s"] = time.monotonic() - t0

    # --- the origins die ---
    def origins_killed(self, sample=40):
        unseen = [p.replace("?w=", "?h=") for p in self.paths[:sample]]
        self.regions.kill_origins()
        result = {}
        for r in NET:
            cached = self.cached[r][:sample]
            served = sum(1 for p in cached if self.status(r, p) == 200)
            refused, seconds = 0, []
            for p in unseen[:10]:
                s, h, b, t = self.clients[r].request("GET", p)
                seconds.append(t)
                if (s == 503 and h.get("content-type") == "application/problem+json"
                        and "retry-after" in h):
                    refused += 1
            result[r] = {"cached": len(cached), "served": served, "uncached": len(unseen[:10]),
                         "clean_503": refused, "p99_503": pct(seconds, 99)}
        self.out["origins_killed"] = result


def run(regions, corpus, images_per_region, variants, reads_per_region, threads=2,
        cut_seconds=3, uploads_per_region=None, log=print):
    """images_per_region: the uploads whose variants are read; uploads_per_region (more, for
    the upload percentiles): how many each region uploads in all."""
    sim = Simulation(regions, corpus, log=log)
    sim.create_user()
    log("uploading")
    images = sim.uploads(max(images_per_region, uploads_per_region or 0))
    log(f"reading {reads_per_region} x {len(NET)} over {variants} variants")
    sim.reads(images[:len(NET) * images_per_region], variants, reads_per_region, threads)
    log("purging")
    sim.purges(cut_seconds)
    log("killing the origins")
    sim.origins_killed()
    for c in sim.clients.values():
        c.close()
    return sim.out
