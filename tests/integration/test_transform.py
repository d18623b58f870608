"""Variants over HTTP: sizes and fits, caching headers, coalescing, overload, abuse limits,
the seed's PUT /transform, and variants following their original's deletion."""
import base64
import concurrent.futures
import os
import re
import struct
import unittest

from harness import Server, ServerTest, corpus_bytes


def jpeg_size(data):
    """(width, height) from the first SOFn of a JPEG."""
    i = 2
    while i + 9 < len(data):
        assert data[i] == 0xFF, "not at a marker"
        m = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    raise AssertionError("no SOF")


def metric(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = re.match(r"^(\w+)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        lab = m.group(2) or ""
        if all(f'{k}="{v}"' in lab for k, v in labels.items()):
            total += float(m.group(3))
    return total


class TransformApiTest(ServerTest):
    nodes = 1  # counts transforms and cache hits of one process
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key = cls.server.create_user("t")["apiKey"]
        cls.other = cls.server.create_user("o")["apiKey"]
        cls.photo = corpus_bytes("real/real_03_storm_1920x1280.jpg")
        r = cls.server.upload(cls.photo, cls.key)
        assert r.status == 201, r.body
        cls.image_id = r.json()["imageId"]

    def content(self, query, headers=None, method="GET"):
        return self.server.request(method, f"/v1/images/{self.image_id}/content?{query}",
                                   headers=headers)

    def test_each_fit_gives_the_requested_size(self):
        for fit, want in (("cover", (300, 200)), ("fill", (300, 200)),
                          ("contain", (300, 200)), ("inside", (300, 200))):
            r = self.content(f"w=300&h=200&fit={fit}")
            self.assertEqual(r.status, 200, r.body[:300])
            self.assertEqual(r.header("content-type"), "image/jpeg")
            self.assertEqual(jpeg_size(r.body), want, fit)
        for query, want in (("w=240&h=240&fit=cover", (240, 240)),
                            ("w=240&h=240&fit=contain", (240, 240)),
                            ("w=240&h=240&fit=inside", (240, 160)),
                            ("w=480", (480, 320)), ("h=64", (96, 64)),
                            ("w=4000", (1920, 1280)),  # never enlarged unless asked
                            ("w=2000&enlarge=true", (2000, 1333))):
            r = self.content(query)
            self.assertEqual(r.status, 200, r.body[:300])
            self.assertEqual(jpeg_size(r.body), want, query)

    def test_same_request_same_bytes_etag_304_head_range(self):
        a = self.content("w=200&h=150&q=70")
        b = self.content("w=200&h=150&q=70")
        self.assertEqual(a.status, 200)
        self.assertEqual(a.body, b.body)
        etag = a.header("etag")
        self.assertTrue(etag.startswith('"') and etag.endswith('"'))
        self.assertEqual(etag, b.header("etag"))
        self.assertIn("s-maxage=31536000", a.header("cache-control"))
        r = self.content("w=200&h=150&q=70", {"If-None-Match": etag})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.body, b"")
        r = self.content("w=200&h=150&q=70", method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.header("content-length")), len(a.body))
        r = self.content("w=200&h=150&q=70", {"Range": "bytes=10-19"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, a.body[10:20])
        # Another spelling of the same spec is the same variant.
        r = self.content("q=70&h=150&w=200&fit=cover")
        self.assertEqual(r.header("etag"), etag)

    def test_bad_parameters_are_400_naming_them(self):
        for query, param in (("w=0", "w"), ("w=-1", "w"), ("w=abc", "w"), ("w=8193", "w"),
                             ("h=1.5", "h"), ("w=10&fit=crop", "fit"), ("w=10&q=0", "q"),
                             ("w=10&q=101", "q"), ("w=10&enlarge=maybe", "enlarge"),
                             ("w=10&progressive=yes", "progressive"), ("w=10&bg=zzzzzz", "bg"),
                             ("w=10&width=5", "width"), ("fit=cover", "w"),
                             ("w=8000&h=8000", "w")):
            r = self.content(query)
            p = self.assertProblem(r, 400)
            self.assertEqual(p.get("parameter"), param, query)
        r = self.server.request("GET", "/v1/images/not-an-id/content?w=10")
        self.assertProblem(r, 404)

    def test_put_transform_seed_shape_and_bytes(self):
        path = f"/v1/images/{self.image_id}/transform"
        r = self.server.request("PUT", path, b'{"resizeWidth": 160, "resizeHeight": 120}',
                                key=self.key)
        self.assertEqual(r.status, 200, r.body[:300])
        o = r.json()
        self.assertEqual((o["resizeWidth"], o["resizeHeight"]), (160, 120))
        self.assertEqual((o["width"], o["height"]), (160, 120))
        data = base64.b64decode(o["imageData"])
        self.assertEqual(len(data), o["size"])
        self.assertEqual(jpeg_size(data), (160, 120))
        url = o["variantUrl"]
        self.assertIn(f"/v1/images/{self.image_id}/content?", url)
        v = self.server.request("GET", url[url.index("/v1/"):])
        self.assertEqual(v.body, data)
        r = self.server.request("PUT", path, b'{"resizeWidth": 160, "fit": "inside", '
                                b'"quality": 50}', key=self.key, headers={"Accept": "image/jpeg"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-type"), "image/jpeg")
        self.assertEqual(jpeg_size(r.body), (160, 107))
        for body, param in ((b'{"resizeWidth": 0}', "resizeWidth"),
                            (b'{"resizeWidth": "big"}', "resizeWidth"),
                            (b'{"resizeWidth": 10, "fit": "zoom"}', None),
                            (b'{"resizeWidth": 10, "quality": 500}', None),
                            (b'{"resizeWidth": 10, "rotate": 90}', "rotate"),
                            (b'{"resizeWidth": 99999}', None), (b'[1]', None), (b'{', None)):
            p = self.assertProblem(self.server.request("PUT", path, body, key=self.key), 400)
            if param:
                self.assertEqual(p.get("parameter"), param, body)
        self.assertProblem(self.server.request("PUT", path, b'{"resizeWidth": 10}'), 401)
        self.assertProblem(self.server.request("PUT", path, b'{"resizeWidth": 10}',
                                               key=self.other), 403)

    def test_concurrent_requests_for_a_new_variant_run_one_transform(self):
        before = metric(self.server.metrics(), "imgd_transforms_total")
        query = "w=333&h=222&fit=fill&q=77"

        def get(_):
            conn = self.server.conn()
            r = self.server.request("GET", f"/v1/images/{self.image_id}/content?{query}",
                                    conn=conn)
            conn.close()
            return r

        with concurrent.futures.ThreadPoolExecutor(32) as ex:
            results = list(ex.map(get, range(32)))
        self.assertEqual({r.status for r in results}, {200})
        self.assertEqual(len({r.body for r in results}), 1)
        after = metric(self.server.metrics(), "imgd_transforms_total")
        self.assertEqual(after - before, 1)

    def test_metrics_expose_transform_state(self):
        self.content("w=50")
        m = self.server.metrics()
        for name in ("imgd_transforms_total", "imgd_transform_duration_seconds_count",
                     "imgd_transform_queue_depth", "imgd_variant_cache_requests_total",
                     "imgd_variant_cache_bytes", "imgd_vips_memory_bytes",
                     "imgd_transform_memory_reserved_bytes"):
            self.assertIn(name, m)


class TransformOverloadTest(unittest.TestCase):
    """One transform thread, no queue: concurrent cold transforms beyond one get 503."""

    def test_queue_overflow_is_503_then_normal_service(self):
        server = Server(extra_args=["--transform-threads", "1", "--transform-queue", "0",
                                    "--variant-cache-bytes", "0", "--store-variants",
                                    "false"]).start()
        try:
            key = server.create_user("q")["apiKey"]
            big = corpus_bytes("real/real_09_kleiber_6028x3391.jpg")
            image_id = server.upload(big, key).json()["imageId"]

            def get(i):
                conn = server.conn()
                r = server.request("GET", f"/v1/images/{image_id}/content?w={3000 + i}",
                                   conn=conn)
                conn.close()
                return r

            with concurrent.futures.ThreadPoolExecutor(12) as ex:
                results = list(ex.map(get, range(12)))
            statuses = [r.status for r in results]
            self.assertIn(503, statuses)
            self.assertTrue(set(statuses) <= {200, 503}, statuses)
            for r in results:
                if r.status == 503:
                    self.assertTrue(r.header("retry-after"))
                    self.assertEqual(r.header("content-type"), "application/problem+json")
            self.assertIn("queue_full", server.metrics())
            # Afterwards it serves normally.
            r = server.request("GET", f"/v1/images/{image_id}/content?w=100")
            self.assertEqual(r.status, 200)
            self.assertEqual(jpeg_size(r.body)[0], 100)
        finally:
            server.cleanup()

    def test_time_limit_is_503(self):
        server = Server(extra_args=["--transform-timeout", "0.001"]).start()
        try:
            key = server.create_user("t")["apiKey"]
            big = corpus_bytes("real/real_09_kleiber_6028x3391.jpg")
            image_id = server.upload(big, key).json()["imageId"]
            r = server.request("GET", f"/v1/images/{image_id}/content?w=4000")
            self.assertEqual(r.status, 503, r.body[:200])
            self.assertTrue(r.header("retry-after"))
            self.assertEqual(server.request("GET", "/healthz").status, 200)
        finally:
            server.cleanup()


class AllowedSizesTest(ServerTest):
    server_args = ("--allowed-sizes", "300x200,120x", "--only-allowed-sizes", "true")

    def test_only_listed_sizes(self):
        key = self.server.create_user("p")["apiKey"]
        image_id = self.server.upload(corpus_bytes("real/real_01_skagen_800x533.jpg"),
                                      key).json()["imageId"]
        base = f"/v1/images/{image_id}/content"
        self.assertEqual(self.server.request("GET", base + "?w=300&h=200").status, 200)
        self.assertEqual(self.server.request("GET", base + "?w=120").status, 200)
        for q in ("w=301&h=200", "w=300", "h=200", "w=121"):
            r = self.server.request("GET", base + "?" + q)
            self.assertEqual(r.status, 400, q)
            self.assertIn("allowed sizes", r.json()["detail"])
        # Distinct sizes cannot fill the disk: nothing was stored for the refused ones.
        self.assertEqual(self.server.request("GET", base).status, 200)


class VariantLifecycleTest(unittest.TestCase):
    def variant_files(self, server):
        return server.stored_keys("variants/")

    def test_variants_are_stored_and_go_with_the_last_reference(self):
        server = Server(extra_args=["--allowed-sizes", "200x"]).start()  # a preset: kept at once
        try:
            a = server.create_user("a")["apiKey"]
            b = server.create_user("b")["apiKey"]
            photo = corpus_bytes("real/real_02_honeybee_1620x1280.jpg")
            id_a = server.upload(photo, a).json()["imageId"]
            id_b = server.upload(photo, b).json()["imageId"]  # the same blob
            first = server.request("GET", f"/v1/images/{id_a}/content?w=200")
            self.assertEqual(first.status, 200)
            server.stop()  # drains: the background store of the variant completes
            server.start()
            self.assertEqual(len(self.variant_files(server)), 1)
            # After a restart (empty memory cache) it comes from the store, same bytes.
            again = server.request("GET", f"/v1/images/{id_b}/content?w=200")
            self.assertEqual(again.body, first.body)
            self.assertIn('result="store_hit"', server.metrics())
            self.assertEqual(server.request("DELETE", f"/v1/images/{id_a}", key=a).status, 204)
            self.assertEqual(len(self.variant_files(server)), 1)  # b still references it
            self.assertEqual(server.request("DELETE", f"/v1/images/{id_b}", key=b).status, 204)
            self.assertEqual(self.variant_files(server), [])
            self.assertEqual(server.request("GET", f"/v1/images/{id_b}/content?w=200").status,
                             404)
        finally:
            server.cleanup()


class CorpusVariantsTest(ServerTest):
    def test_every_accepted_file_makes_a_variant_without_private_metadata(self):
        key = self.server.create_user("c")["apiKey"]
        from harness import manifest
        for row in manifest():
            if row["expected"] != "accept" or row["path"].startswith("duplicates/"):
                continue
            data = corpus_bytes(row["path"])
            up = self.server.upload(data, key)
            self.assertIn(up.status, (200, 201), row["path"])
            image_id = up.json()["imageId"]
            r = self.server.request("GET", f"/v1/images/{image_id}/content?w=120&h=90")
            self.assertEqual(r.status, 200, (row["path"], r.body[:200]))
            w, h = jpeg_size(r.body)
            if int(row["width"]) >= 120 and int(row["height"]) >= 90:
                self.assertEqual((w, h), (120, 90), row["path"])
            else:  # never enlarged: the box shrinks to fit the original, aspect kept
                self.assertTrue(w <= 120 and h <= 90 and abs(w / h - 4 / 3) < 0.2 or w * h <= 16,
                                (row["path"], w, h))
            self.assertNotIn(b"CORPUS-PRIVATE", r.body, row["path"])
            self.assertNotIn(b"Exif", r.body, row["path"])


class TransformCliTest(unittest.TestCase):
    def test_cli_runs_the_pipeline(self):
        import subprocess
        import tempfile
        from harness import CORPUS, IMGD_BIN
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.jpg")
            p = subprocess.run([IMGD_BIN, "transform",
                                os.path.join(CORPUS, "variants/v46_orientation_6.jpg"),
                                "--w", "100", "--h", "100", "--fit", "cover", "--q", "85",
                                "-o", out], capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(out, "rb") as f:
                self.assertEqual(jpeg_size(f.read()), (100, 100))
            p = subprocess.run([IMGD_BIN, "transform",
                                os.path.join(CORPUS, "bad/b03_png_renamed.jpg"), "--w", "10",
                                "-o", out], capture_output=True, text=True, timeout=60)
            self.assertNotEqual(p.returncode, 0)


if __name__ == "__main__":
    unittest.main()
