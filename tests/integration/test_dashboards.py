"""The shipped dashboard and alert rules only use metrics imgd exports, and the store-call
metrics they chart are really fed (by SQLite and file-store calls; PostgreSQL and S3 in the
pg_s3 run)."""
import json
import os
import re
import unittest

from harness import ServerTest

DEPLOY = os.path.join(os.path.dirname(__file__), "../../deploy")
SUFFIXES = ("_bucket", "_count", "_sum")


def used_metrics(text):
    """Metric names in PromQL text (recording-rule names have a colon and are skipped)."""
    return set(re.findall(r"\bimgd_[a-z0-9_]+\b", text))


class DashboardTest(ServerTest):
    nodes = 1  # one process's /metrics

    def families(self):
        text = self.server.metrics()
        return {m.group(1): m.group(2)
                for m in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.M)}

    def check(self, names):
        families = self.families()
        for name in sorted(names):
            base = name
            for s in SUFFIXES:
                if name.endswith(s) and name[: -len(s)] in families:
                    base = name[: -len(s)]
                    self.assertEqual(families[base], "histogram", name)
            self.assertIn(base, families, f"{name} is charted but not exported")

    def test_every_dashboard_metric_exists(self):
        with open(os.path.join(DEPLOY, "grafana/imgd.json")) as f:
            dash = json.load(f)
        exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
        self.assertGreaterEqual(len(exprs), 20)
        names = set().union(*(used_metrics(e) for e in exprs))
        for wanted in ("imgd_transform_queue_depth", "imgd_transform_queue_wait_seconds_bucket",
                       "imgd_store_operation_duration_seconds_bucket", "imgd_store_errors_total",
                       "imgd_variant_cache_requests_total", "imgd_meta_circuit_state",
                       "imgd_blob_circuit_state", "imgd_rate_limited_total"):
            self.assertIn(wanted, names)
        self.check(names)

    def test_every_alert_metric_exists(self):
        with open(os.path.join(DEPLOY, "prometheus/alerts.yml")) as f:
            text = f.read()
        for alert in ("ImgdReadLatencyBudgetFastBurn", "ImgdReadLatencyBudgetSlowBurn",
                      "ImgdUploadLatencyBudgetFastBurn", "ImgdUploadLatencyBudgetSlowBurn"):
            self.assertIn("alert: " + alert, text)
        names = used_metrics(text)
        self.assertIn("imgd_upload_duration_seconds_bucket", names)
        self.assertIn("imgd_http_request_duration_seconds_bucket", names)
        self.check(names)
        # The SLO thresholds are buckets that exist (0.5 s reads, 1 s uploads).
        self.server.request("GET", "/healthz")
        self.assertRegex(self.server.metrics(),
                         r'imgd_http_request_duration_seconds_bucket\{[^}]*le="0.5"')

    def test_store_calls_are_timed_by_operation(self):
        key = self.server.create_user("dash")["apiKey"]
        self.assertEqual(self.server.request("GET", "/v1/images", key=key).status, 200)
        text = self.server.metrics()
        series = re.findall(r'^imgd_store_operation_duration_seconds_count\{store="([a-z0-9]+)",'
                            r'op="([^"]+)"\} (\d+)', text, re.M)
        stores = {s for s, _, _ in series}
        ops = {op for _, op, _ in series}
        self.assertTrue(stores & {"sqlite", "postgres", "cassandra"}, series)
        self.assertTrue(any(op.startswith("select ") for op in ops), ops)
        self.assertTrue(all(int(n) > 0 for _, _, n in series))


if __name__ == "__main__":
    unittest.main()
