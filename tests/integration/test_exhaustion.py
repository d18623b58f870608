"""Requests that try to buy more CPU, memory or disk than a limit allows (issue 13): huge
variants of small originals, scan floods and images at the pixel limit, made-up methods
minting metric series. Each is refused by its limit before the cost is paid, with a
problem+json that says which limit."""
import os
import re
import unittest

from harness import ServerTest
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
        # fit=cover with one tiny side: the output is 8192x1, the intermediate 8192x536576.
        r = self.content(tallest, "w=8192&h=1&enlarge=true")
        p = self.assertProblem(r, 400, "transform-too-large")
        self.assertGreater(p["predictedBytes"], p["limit"])
        self.assertLess(self.server.hwm_kb() - before, 100 * 1024)
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
