"""The edge tier on real Varnish edges (deploy/edge/start): content cached under a key
without noise, concurrent misses coalesced, an origin shield, purges by surrogate key on
delete and on a switch to private through imgd's outbox (an edge cut off by a Toxiproxy link
is purged once the link is back), grace while the origin is down and a clean 503 for what no
edge holds."""
import json
import os
import re
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

from harness import ADMIN_KEY, Server, corpus_bytes, free_port

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "engines"))
from edges import PURGE_TOKEN, Edge, Toxiproxy  # noqa: E402

PHOTO = "real/real_01_skagen_800x533.jpg"
CONTENT_ROUTE = "/v1/images/{imageId}/content"


def get(base, path, headers=None):
    req = urllib.request.Request(base + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def metric(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^(\w+)(\{.*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        if all(f'{k}="{v}"' in (m.group(2) or "") for k, v in labels.items()):
            total += float(m.group(3))
    return total


def wait_for(check, what, timeout=60):
    """Polls an observable condition (a counter, an answer) until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


class EdgeTest(unittest.TestCase):
    """A shield and edge A behind it, edge B straight to the origin; imgd purges the shield,
    A, and B through a Toxiproxy link the test can cut."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="imgd-edge-")
        cls.tox = cls.server = None
        cls.edges = []
        try:
            cls.tox = Toxiproxy(cls.tmp.name).start()
            shield_port, a_port, b_port = free_port(), free_port(), free_port()
            cls.purge_b = cls.tox.proxy("purge_b", f"127.0.0.1:{free_port()}",
                                        f"127.0.0.1:{b_port}")
            cls.purge_urls = [f"http://127.0.0.1:{shield_port}", f"http://127.0.0.1:{a_port}",
                              f"http://{cls.purge_b}"]
            cls.server = Server(extra_args=["--edge-purge-urls", ",".join(cls.purge_urls)],
                                env={"IMGD_EDGE_PURGE_TOKEN": PURGE_TOKEN}, nodes=1).start()
            origin = f"127.0.0.1:{cls.server.port}"
            cls.shield = Edge(cls.tmp.name, origin, port=shield_port, name="shield").start()
            cls.a = Edge(cls.tmp.name, origin, port=a_port, shield=cls.shield.listen,
                         name="a").start()
            cls.b = Edge(cls.tmp.name, origin, port=b_port, name="b").start()
            cls.edges = [cls.shield, cls.a, cls.b]
            cls.user = cls.server.create_user("edge")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for e in cls.edges:
            e.stop()
        if cls.server:
            cls.server.cleanup()
        if cls.tox:
            cls.tox.stop()
        cls.tmp.cleanup()

    def upload(self):
        # Unique bytes per test: a JPEG comment segment after SOI.
        data = corpus_bytes(PHOTO)
        marker = os.urandom(8).hex().encode()
        data = data[:2] + b"\xff\xfe" + (len(marker) + 2).to_bytes(2, "big") + marker + data[2:]
        r = self.server.upload(data, self.user["apiKey"])
        self.assertEqual(r.status, 201, r.body[:300])
        return r.json()["imageId"]

    def origin_reads(self):
        return metric(self.server.metrics(), "imgd_http_requests_total", route=CONTENT_ROUTE)

    def sent(self, edge_url=None):
        labels = {"edge": edge_url} if edge_url else {}
        return metric(self.server.metrics(), "imgd_edge_purges_sent_total", **labels)

    def test_content_is_cached_under_a_key_without_noise(self):
        image = self.upload()
        path = f"/v1/images/{image}/content"
        status, h, body = get(self.b.url, path + "?w=120&h=90")
        self.assertEqual((status, h["x-cache"]), (200, "MISS"))
        self.assertIn("s-maxage=31536000", h["cache-control"])
        self.assertNotIn("xkey", h)  # surrogate keys stay between imgd and the edges
        self.assertNotIn("surrogate-key", h)
        self.assertNotIn("vary", h)
        for same in ("?w=120&h=90", "?h=90&w=120", "?utm_source=news&w=120&fbclid=x&h=90",
                     "?w=120&h=90&gclid=1"):
            status, h, again = get(self.b.url, path + same)
            self.assertEqual((status, h["x-cache"]), (200, "HIT"), same)
            self.assertEqual(again, body)
        # imgd itself names the keys the edges purge by.
        r = self.server.request("GET", path + "?w=120&h=90")
        self.assertEqual(r.header("xkey").split()[0], "img-" + image)
        self.assertEqual(r.header("surrogate-key"), r.header("xkey"))

    def test_format_auto_is_cached_once_per_format_whatever_the_accept_spelling(self):
        image = self.upload()
        path = f"/v1/images/{image}/content?w=160&format=auto"
        before = self.origin_reads()
        spellings = {
            "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8": "image/avif",
            "image/avif,image/webp,*/*": "image/avif",
            "IMAGE/AVIF;q=0.9, image/webp": "image/avif",
            "image/webp,*/*": "image/webp",
            "image/avif;q=0, image/webp;q=0.8": "image/webp",
            "image/png,image/*;q=0.8,*/*;q=0.5": "image/jpeg",
            "*/*": "image/jpeg",
        }
        for accept, media in spellings.items():
            status, h, body = get(self.b.url, path, {"Accept": accept})
            self.assertEqual((status, h["content-type"]), (200, media), accept)
            self.assertEqual(h["vary"], "Accept")
        # Seven spellings, three formats: three origin reads, the rest from the cache.
        self.assertEqual(self.origin_reads() - before, 3)
        # A URL that names its format does not vary: one copy, whatever the Accept.
        before = self.origin_reads()
        for accept in ("image/avif", "*/*", "image/webp"):
            status, h, _ = get(self.b.url, f"/v1/images/{image}/content?w=160&format=webp",
                               {"Accept": accept})
            self.assertEqual((status, h["content-type"]), (200, "image/webp"))
        self.assertEqual(self.origin_reads() - before, 1)

    def test_concurrent_misses_are_one_origin_read_and_the_shield_serves_the_rest(self):
        image = self.upload()
        path = f"/v1/images/{image}/content?w=333"
        before = self.origin_reads()
        results = []
        threads = [threading.Thread(target=lambda: results.append(get(self.a.url, path)))
                   for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([r[0] for r in results], [200] * 16)
        self.assertEqual(len({r[2] for r in results}), 1)
        # Edge B misses too; the shield does not: still one read at the origin.
        status, h, _ = get(self.shield.url, path)
        self.assertEqual((status, h["x-cache"]), (200, "HIT"))
        # (imgd counts a request once its answer is sent: wait for the count, then check it.)
        wait_for(lambda: self.origin_reads() - before >= 1, "the origin's read counted")
        self.assertEqual(self.origin_reads() - before, 1)

    def test_delete_purges_every_edge_and_the_shield(self):
        image = self.upload()
        path = f"/v1/images/{image}/content?w=200"
        for e in self.edges:
            self.assertEqual(get(e.url, path)[0], 200)
            self.assertEqual(get(e.url, path)[1]["x-cache"], "HIT")
        r = self.server.request("DELETE", f"/v1/images/{image}", key=self.user["apiKey"])
        self.assertEqual(r.status, 204)
        # (The purge counters also count earlier tests' repeats: wait for the answers.)
        wait_for(lambda: all(get(e.url, path)[0] == 404 for e in self.edges),
                 "every edge answers 404")

    def test_private_removes_the_public_copies_from_every_edge(self):
        image = self.upload()
        path = f"/v1/images/{image}/content"
        for e in self.edges:
            self.assertEqual(get(e.url, path)[0], 200)
        r = self.server.request("PATCH", f"/v1/images/{image}",
                                json.dumps({"visibility": "private"}),
                                {"Content-Type": "application/json"}, key=self.user["apiKey"])
        self.assertEqual(r.status, 200, r.body[:300])
        wait_for(lambda: all(get(e.url, path)[0] == 403 for e in self.edges),
                 "every edge refuses the public URL")
        for e in self.edges:
            status, h, body = get(e.url, path)
            self.assertEqual(status, 403, e.url)
            self.assertEqual(h["content-type"], "application/problem+json")

    def test_an_edge_cut_off_during_a_delete_is_purged_when_it_is_back(self):
        image = self.upload()
        path = f"/v1/images/{image}/content?w=150"
        self.assertEqual(get(self.b.url, path)[0], 200)
        b_url = self.purge_urls[2]
        failed = metric(self.server.metrics(), "imgd_edge_purges_failed_total", edge=b_url)
        sent_b = self.sent(b_url)
        self.tox.enable("purge_b", False)
        try:
            r = self.server.request("DELETE", f"/v1/images/{image}", key=self.user["apiKey"])
            self.assertEqual(r.status, 204)
            wait_for(lambda: metric(self.server.metrics(), "imgd_edge_purges_failed_total",
                                    edge=b_url) > failed, "a failed delivery to edge B")
            # What the outbox is for: B still holds the deleted image, and imgd knows.
            status, h, _ = get(self.b.url, path)
            self.assertEqual((status, h["x-cache"]), (200, "HIT"))
            self.assertGreaterEqual(metric(self.server.metrics(), "imgd_edge_purges_pending",
                                           edge=b_url), 1)
        finally:
            self.tox.enable("purge_b", True)
        wait_for(lambda: get(self.b.url, path)[0] == 404, "edge B purged once back")
        self.assertGreater(self.sent(b_url), sent_b)

    def test_a_purge_needs_the_token(self):
        for headers in ({}, {"X-Purge-Token": "wrong"}):
            req = urllib.request.Request(self.b.url + "/", method="PURGE",
                                         headers=dict(headers, **{"xkey-purge": "img-x"}))
            with self.assertRaises(urllib.error.HTTPError) as ctx:
                urllib.request.urlopen(req, timeout=10)
            self.assertEqual(ctx.exception.code, 403)
        req = urllib.request.Request(self.b.url + "/", method="PURGE",
                                     headers={"xkey-purge": "img-x", "X-Purge-Token": PURGE_TOKEN})
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(json.loads(r.read()), {"purged": 0})

    def test_health_and_the_api_pass_through(self):
        self.assertEqual(get(self.b.url, "/healthz")[0], 200)
        status, h, _ = get(self.b.url, "/v1/images", {"Authorization": "Bearer " + ADMIN_KEY})
        self.assertEqual(status, 200)
        self.assertEqual(h["x-cache"], "MISS")


class EdgeGraceTest(unittest.TestCase):
    """The origin dies: the edge keeps serving what it holds, stale included, and answers
    what it does not hold with a problem+json 503."""

    def test_grace_while_the_origin_is_down(self):
        with tempfile.TemporaryDirectory(prefix="imgd-grace-") as tmp:
            server = Server(extra_args=["--cache-control",
                                        "public, max-age=1, s-maxage=1, stale-if-error=86400"],
                            nodes=1).start()
            edge = None
            try:
                edge = Edge(tmp, f"127.0.0.1:{server.port}").start()
                user = server.create_user("grace")
                image = server.upload(corpus_bytes(PHOTO), user["apiKey"]).json()["imageId"]
                path = f"/v1/images/{image}/content?w=100"
                status, _, body = get(edge.url, path)
                self.assertEqual(status, 200)
                server.stop()
                # Past its 1 s TTL the copy is stale; the edge still serves it.
                ages = []

                def stale_served():
                    s, h, b = get(edge.url, path)
                    self.assertEqual((s, b), (200, body))
                    ages.append(int(h.get("age", "0")))
                    return ages[-1] >= 2
                wait_for(stale_served, "a stale copy served while the origin is down", 30)
                status, h, problem = get(edge.url, f"/v1/images/{image}/content?w=101")
                self.assertEqual(status, 503)
                self.assertEqual(h["content-type"], "application/problem+json")
                self.assertIn("retry-after", h)
                self.assertEqual(json.loads(problem)["status"], 503)
            finally:
                if edge:
                    edge.stop()
                server.cleanup()


if __name__ == "__main__":
    unittest.main()
