"""Requests that try to buy more CPU, memory or disk than a limit allows (issue 13): huge
variants of small originals, scan floods and images at the pixel limit, made-up methods
minting metric series. Each is refused by its limit before the cost is paid, with a
problem+json that says which limit."""
import json
import os
import re
import socket
import time
import unittest
import urllib.parse

import test_uploads  # its SourceServer serves imageUrl fetches

from harness import Server, ServerTest, corpus_bytes, sha256
from jpeg_forge import baseline, longest_progression, progressive


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TransformCostTest(ServerTest):
    nodes = 1  # the peak RSS read is one process's

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key = cls.server.create_user("cost")["apiKey"]
        tall = cls.server.upload(baseline(1000, 4000), cls.key)
        assert tall.status == 201, tall.body
        cls.tall = tall.json()["imageId"]

    def content(self, image_id, query):
        return self.server.request("GET", f"/v1/images/{image_id}/content?{query}")

    def test_enlarged_variants_over_the_output_cap_are_400_before_any_allocation(self):
        before = self.server.hwm_kb()
        r = self.content(self.tall, "w=8192&enlarge=true")  # 8192 x 32768 = 268 M pixels
        p = self.assertProblem(r, 400, "output-too-large")
        self.assertEqual((p["width"], p["height"]), (8192, 32768))
        self.assertIn("40000000", p["detail"])
        r = self.content(self.tall, "h=8192&w=8192&fit=contain&enlarge=true")
        self.assertProblem(r, 400, "output-too-large")
        # Nothing of that size was ever allocated (it used to take RSS to 1.6 GB).
        self.assertLess(self.server.hwm_kb() - before, 100 * 1024)
        # Without enlarge the same sizes are the original's: answered.
        self.assertEqual(self.content(self.tall, "w=8192").status, 200)
        self.assertEqual(self.content(self.tall, "w=8192&h=1").status, 200)

    def test_the_tallest_original_cannot_buy_13_gb(self):
        up = self.server.upload(baseline(1000, 65500), self.key)  # libjpeg's largest side
        self.assertEqual(up.status, 201, up.body)
        tallest = up.json()["imageId"]
        before = self.server.hwm_kb()
        r = self.content(tallest, "w=8192&enlarge=true")
        self.assertProblem(r, 400, "output-too-large")
        # fit=cover with one tiny side: the scaled image would be 8192x536576 (13 GB), but
        # only the 8192x1 window kept is resampled.
        r = self.content(tallest, "w=8192&h=1&enlarge=true")
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertLess(self.server.hwm_kb() - before, 200 * 1024)
        r = self.content(tallest, "w=100")
        self.assertEqual(r.status, 200)

    def test_a_transform_bigger_than_the_whole_budget_is_never_admitted(self):
        # The pool would have admitted it while idle; now the request's own ceiling says no.
        r = self.content(self.tall, "w=4000&enlarge=true")  # 4000 x 16000: 64 M pixels
        self.assertProblem(r, 400, "output-too-large")
        metrics = self.server.metrics()
        self.assertNotIn('imgd_transforms_total{path="fast",result="ok"} 0', metrics)


class SmallTransformBudgetTest(ServerTest):
    nodes = 1
    server_args = ("--transform-request-memory", str(64 << 20))

    def test_the_per_request_ceiling_is_configurable(self):
        key = self.server.create_user("ceiling")["apiKey"]
        image_id = self.server.upload(baseline(2000, 2000), key).json()["imageId"]
        ok = self.server.request("GET", f"/v1/images/{image_id}/content?w=300")
        self.assertEqual(ok.status, 200)
        r = self.server.request("GET", f"/v1/images/{image_id}/content?w=4000&enlarge=true")
        p = self.assertProblem(r, 400, "transform-too-large")
        self.assertEqual(p["limit"], 64 << 20)


class UploadDecodeTest(ServerTest):
    nodes = 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key = cls.server.create_user("scans")["apiKey"]

    def test_a_scan_flood_is_422_once_its_scans_pass_over_the_image_20_times(self):
        # 100 megapixels, 883 valid scans in 300 KB: each scan is a pass over 1.6 M blocks.
        bomb = progressive(10000, 10000, longest_progression(883))
        self.assertLess(len(bomb), 400_000)
        used = cpu_seconds(self.server.pid())
        r = self.server.upload(bomb, self.key)
        p = self.assertProblem(r, 422, "too-many-scans")
        self.assertIn("more than 20 times", p["detail"])
        print(f"\nscan flood refused after {cpu_seconds(self.server.pid()) - used:.2f} CPU s")
        # Damaged progressions stop at libjpeg's first warning instead of reading on.
        r = self.server.upload(progressive(10000, 10000, [(1, 63, 0, 0)] * 200), self.key)
        self.assertProblem(r, 422, "undecodable-jpeg")
        self.assertIn('imgd_upload_rejects_total{reason="too-many-scans"} 1',
                      self.server.metrics())

    def test_a_huge_but_valid_image_at_the_pixel_limit_is_accepted_and_usable(self):
        at_limit = baseline(10000, 10000)  # 100 M pixels, the default --max-pixels
        up = self.server.upload(at_limit, self.key)
        self.assertEqual(up.status, 201, up.body)
        self.assertEqual((up.json()["width"], up.json()["height"]), (10000, 10000))
        thumb = self.server.request("GET", f"/v1/images/{up.json()['imageId']}/content?w=200")
        self.assertEqual(thumb.status, 200)
        over = self.server.upload(baseline(10000, 10001), self.key)
        self.assertProblem(over, 422, "too-many-pixels")


class ScanCapConfigTest(ServerTest):
    nodes = 1
    server_args = ("--max-jpeg-scans", "20")

    def test_the_cap_is_configurable(self):
        key = self.server.create_user("cap")["apiKey"]
        self.assertEqual(self.server.upload(progressive(800, 600, longest_progression(20)),
                                            key).status, 201)
        self.assertProblem(self.server.upload(progressive(800, 600, longest_progression(21)),
                                              key), 422, "too-many-scans")


def metric(text, name):
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


class VariantDiskTest(ServerTest):
    nodes = 1  # each node bounds what it knows; one node makes the bound exact
    per_image, per_image_bytes, total_bytes = 20, 150_000, 250_000
    server_args = ("--variant-cache-bytes", "0",  # every request makes (and stores) again
                   "--variant-max-per-image", str(per_image),
                   "--variant-max-bytes-per-image", str(per_image_bytes),
                   "--variant-store-bytes", str(total_bytes))

    def on_disk(self):
        root = os.path.join(self.server.data_dir, "blobs", "variants")
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)

    def settled(self):
        """Waits for the variant stores in flight (they run after the answer) to land: the
        ledger and the store agree on count (and, on disk, on bytes)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            metrics = self.server.metrics()
            entries = metric(metrics, "imgd_variant_store_entries")
            stored = metric(metrics, "imgd_variant_store_bytes")
            if entries == len(self.server.stored_keys("variants/")) and (
                    self.server.remote or stored == self.on_disk()):
                return int(entries)
            time.sleep(0.05)  # polling a condition with a deadline
        self.fail("variant stores did not settle")

    def test_two_passes_over_500_sizes_stay_within_the_bounds(self):
        key = self.server.create_user("sizes")["apiKey"]
        data = corpus_bytes("real/real_01_skagen_800x533.jpg")
        image_id = self.server.upload(data, key).json()["imageId"]
        other = self.server.upload(corpus_bytes("real/real_07_chameleon_1306x1530.jpg"),
                                   key).json()["imageId"]
        conn = self.server.conn()
        for _ in range(2):  # the first pass stores nothing (one-off sizes), the second all
            for w in range(10, 510):
                r = self.server.request("GET", f"/v1/images/{image_id}/content?w={w}&q=90",
                                        conn=conn)
                self.assertEqual(r.status, 200)
        for w in range(100, 140):  # another image's variants, twice each
            for _ in range(2):
                self.server.request("GET", f"/v1/images/{other}/content?w={w}", conn=conn)
        conn.close()
        entries = self.settled()
        keys = self.server.stored_keys("variants/")
        sha = sha256(data)
        self.assertLessEqual(sum(1 for k in keys if sha in k), self.per_image)
        metrics = self.server.metrics()
        stored = metric(metrics, "imgd_variant_store_bytes")
        self.assertLessEqual(stored, self.total_bytes)
        if not self.server.remote:
            self.assertLessEqual(self.on_disk(), self.total_bytes)
        self.assertGreater(metric(metrics, "imgd_variant_store_evictions_total"), 500)
        self.assertGreater(entries, 0)
        # What is kept is served, what was evicted is made again: both answer 200.
        for w in (10, 509):
            r = self.server.request("GET", f"/v1/images/{image_id}/content?w={w}&q=90")
            self.assertEqual(r.status, 200)


def chunked_upload(port, key, data, piece=8192):
    """POST /v1/images with a chunked body (no Content-Length); the raw answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        s.sendall((f"POST /v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                   "Content-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n"
                   "Connection: close\r\n\r\n").encode())
        try:
            for i in range(0, len(data), piece):
                part = data[i:i + piece]
                s.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-body: the answer is already there
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        return reply
    finally:
        s.close()


class UploadBudgetTest(unittest.TestCase):
    def test_a_chunked_body_is_charged_as_it_arrives(self):
        photo = corpus_bytes("real/real_01_skagen_800x533.jpg")  # 71,682 bytes
        # 1 byte/s, burst 100,000: a chunked body used to cost one byte, so any number
        # passed. Now the second is refused once its bytes pass what is left.
        server = Server(extra_args=["--rate-limit-upload-bytes", "1", "--max-upload-bytes",
                                    "100000"], nodes=1).start()
        try:
            key = server.create_user("u")["apiKey"]
            first = chunked_upload(server.port, key, photo)
            self.assertTrue(first.startswith(b"HTTP/1.1 201"), first[:300])
            second = chunked_upload(server.port, key, photo[:-1] + b"\xd9")
            self.assertTrue(second.startswith(b"HTTP/1.1 429"), second[:300])
            self.assertIn(b"upload byte budget", second)
            self.assertEqual(server.image_rows_of(key), 1)
            self.assertIn('imgd_rate_limited_total{limit="upload_bytes"} 1', server.metrics())
        finally:
            server.cleanup()

    def test_presigned_puts_and_fetched_urls_are_charged_to_the_key_that_asked(self):
        photo = corpus_bytes("real/real_01_skagen_800x533.jpg")  # 71,682 bytes
        source = test_uploads.SourceServer()
        test_uploads.SourceHandler.routes = {"/photo.jpg": (200, {}, photo)}
        # 1 byte/s, burst 100,000: one photo fits, a second does not, whichever way it comes.
        server = Server(extra_args=["--rate-limit-upload-bytes", "1", "--max-upload-bytes",
                                    "100000", "--fetch-allow", f"127.0.0.1:{source.port}"],
                        nodes=1).start()
        try:
            def presigned(key):
                r = server.request("POST", "/v1/images", json.dumps({"size": len(photo)}),
                                   {"Content-Type": "application/json"}, key=key)
                self.assertEqual(r.status, 201, r.body)
                url = urllib.parse.urlsplit(r.json()["preSignedUrl"])
                return server.request("PUT", url.path + "?" + url.query, photo)  # no key

            def by_url(key):
                return server.request("POST", "/v1/images?onDuplicate=new",
                                      json.dumps({"imageUrl": source.url("/photo.jpg")}),
                                      {"Content-Type": "application/json"}, key=key)

            # The PUT carries no key, but the URL's maker pays: a second one is refused.
            alice = server.create_user("alice")["apiKey"]
            self.assertEqual(presigned(alice).status, 200)
            r = presigned(alice)
            self.assertEqual(r.status, 429, r.body)
            self.assertIn("budget", r.json()["detail"])
            # A fetched URL's bytes are the caller's upload too (they used to cost only the
            # JSON body's few bytes).
            bob = server.create_user("bob")["apiKey"]
            self.assertEqual(by_url(bob).status, 201)
            r = by_url(bob)
            self.assertEqual(r.status, 429, r.body)
            self.assertEqual(server.image_rows_of(bob), 1)
            # Another key has its own budget.
            carol = server.create_user("carol")["apiKey"]
            self.assertEqual(by_url(carol).status, 201)
        finally:
            server.cleanup()
            source.close()

    def test_concurrent_uploads_are_capped_per_key(self):
        photo = corpus_bytes("real/real_02_honeybee_1620x1280.jpg")
        server = Server(extra_args=["--max-concurrent-uploads-per-key", "1"], nodes=1).start()
        try:
            alice = server.create_user("alice")["apiKey"]
            bob = server.create_user("bob")["apiKey"]
            first = socket.create_connection(("127.0.0.1", server.port), timeout=60)
            first.sendall((f"POST /v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                           f"{alice}\r\nContent-Type: image/jpeg\r\nContent-Length: "
                           f"{len(photo)}\r\n\r\n").encode() + photo[:1000])
            deadline = time.monotonic() + 30
            while "imgd_uploads_in_progress 1" not in server.metrics():
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.01)  # polling a condition with a deadline
            r = server.upload(photo, alice)
            self.assertEqual(r.status, 503, r.body)
            self.assertIn("uploads in progress", r.json()["detail"])
            self.assertEqual(server.upload(photo, bob).status, 201)  # another key: admitted
            first.sendall(photo[1000:])
            reply = first.recv(65536)
            first.close()
            self.assertTrue(reply.startswith(b"HTTP/1.1 201"), reply[:200])
            self.assertIn('imgd_rate_limited_total{limit="concurrent_uploads_per_key"} 1',
                          server.metrics())
            self.assertEqual(server.upload(photo, alice).status, 200)  # slot given back
        finally:
            server.cleanup()


class MetricLabelTest(ServerTest):
    nodes = 1
    server_args = ("--rate-limit-ip", "5")  # burst 10

    def test_made_up_methods_do_not_mint_series_nor_skip_the_address_limit(self):
        statuses = []
        conn = self.server.conn()
        for i in range(300):
            r = self.server.request(f"XM{i:03d}", "/healthz", conn=conn)
            statuses.append(r.status)
        conn.close()
        self.assertIn(429, statuses)  # health paths only skip the limit for GET and HEAD
        metrics = self.server.metrics()
        methods = set(re.findall(r'imgd_http_requests_total\{[^}]*method="([^"]*)"', metrics))
        self.assertLessEqual(methods, {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                                       "OPTIONS", "other"})
        self.assertNotIn("XM", metrics)
        routes = set(re.findall(r'imgd_http_requests_total\{route="([^"]*)"', metrics))
        self.assertLessEqual(routes, {"/healthz", "unmatched", "/metrics"})
        # Monitoring itself is never limited.
        for _ in range(30):
            self.assertEqual(self.server.request("GET", "/healthz").status, 200)


if __name__ == "__main__":
    unittest.main()
