"""W3C trace context and OTLP export: a collector written here (loopback) records what imgd
sends to --otlp-endpoint. A caller's traceparent is continued (sampled or not, as it says),
each request is a SERVER span with its store calls as CLIENT children, the trace id is in
the log lines, a dead collector costs nothing but dropped spans, and on PostgreSQL each
sampled statement carries the trace as a sqlcommenter comment (seen in the server's log)."""
import http.server
import json
import os
import subprocess
import threading
import time
import unittest

from harness import CASSANDRA, META_STORE, REMOTE, Server, corpus_bytes, free_port, shared_engines

PARENT = "0af7651916cd43dd8448eb211c80319c"


class Collector:
    """An OTLP/HTTP JSON receiver: keeps every span it is sent."""

    def __init__(self):
        self.spans = []
        self.lock = threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = self.path == "/v1/traces" and \
                    self.headers["Content-Type"] == "application/json"
                if ok:
                    doc = json.loads(body)
                    with collector.lock:
                        for rs in doc["resourceSpans"]:
                            service = {a["key"]: a["value"]["stringValue"]
                                       for a in rs["resource"]["attributes"]}["service.name"]
                            for ss in rs["scopeSpans"]:
                                for s in ss["spans"]:
                                    collector.spans.append(dict(s, service=service))
                self.send_response(200 if ok else 400)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1/traces"

    def of_trace(self, trace_id):
        with self.lock:
            return [s for s in self.spans if s["traceId"] == trace_id]

    def wait_for(self, condition, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)  # polling with a deadline: the exporter sends once a second
        return False

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def attrs(span):
    out = {}
    for a in span.get("attributes", []):
        v = a["value"]
        out[a["key"]] = v.get("stringValue", v.get("intValue"))
    return out


class TracingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.collector = Collector()
        cls.server = Server(extra_args=["--otlp-endpoint", cls.collector.url,
                                        "--trace-sample-ratio", "0"])
        if REMOTE and not CASSANDRA:
            # Every statement of this database goes to the PostgreSQL log.
            db = cls.server.meta_url.rsplit("/", 1)[1]
            subprocess.run(["psql", shared_engines().pg.url, "-Xqc",
                            f"ALTER DATABASE {db} SET log_statement = 'all'"],
                           check=True, capture_output=True, timeout=60)
        cls.server.start()
        cls.key = cls.server.create_user("tracer")["apiKey"]

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.collector.close()

    def traced(self, method, path, trace_id, sampled=True, **kw):
        headers = dict(kw.pop("headers", {}))
        headers["traceparent"] = f"00-{trace_id}-b7ad6b7169203331-{'01' if sampled else '00'}"
        return self.server.request(method, path, headers=headers, **kw)

    def test_sampled_request_exports_server_and_store_spans(self):
        trace = os.urandom(16).hex()
        r = self.traced("POST", "/v1/images", trace, body=corpus_bytes(
            "real/real_01_skagen_800x533.jpg"), key=self.key,
            headers={"Content-Type": "image/jpeg"})
        self.assertEqual(r.status, 201, r.body)
        self.assertTrue(self.collector.wait_for(
            lambda: any(s["kind"] == 2 for s in self.collector.of_trace(trace))))
        spans = self.collector.of_trace(trace)
        server = [s for s in spans if s["kind"] == 2]
        self.assertEqual(len(server), 1)
        s = server[0]
        self.assertEqual(s["service"], "imgd")
        self.assertEqual(s["name"], "POST /v1/images")
        self.assertEqual(s["parentSpanId"], "b7ad6b7169203331")  # the caller's span
        self.assertRegex(s["spanId"], "^[0-9a-f]{16}$")
        self.assertLessEqual(int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"]))
        a = attrs(s)
        self.assertEqual((a["http.request.method"], a["http.route"]), ("POST", "/v1/images"))
        self.assertEqual(a["http.response.status_code"], "201")
        self.assertEqual(a["imgd.request_id"], r.header("x-request-id"))
        # The store calls it made are its children: metadata and blob stores both.
        children = [c for c in spans if c["kind"] == 3]
        self.assertTrue(children, spans)
        for c in children:
            self.assertEqual(c["parentSpanId"], s["spanId"])
            self.assertGreaterEqual(int(c["startTimeUnixNano"]), int(s["startTimeUnixNano"]))
        stores = {attrs(c)["db.system"] for c in children}
        self.assertEqual(stores, {META_STORE, "s3"} if REMOTE else {"sqlite", "fs"})
        # The access log line has the same trace and span.
        self.assertTrue(self.collector.wait_for(lambda: self.log_line(r.header("x-request-id"))))
        line = self.log_line(r.header("x-request-id"))
        self.assertEqual((line["traceId"], line["spanId"]), (trace, s["spanId"]))
        if REMOTE and not CASSANDRA:
            self.assertPostgresSawTrace(trace)

    def log_line(self, request_id):
        for node in self.server.nodes:
            with open(node.stderr_path, errors="replace") as f:
                for text in f:
                    if request_id in text and '"msg":"request"' in text:
                        return json.loads(text)
        return None

    def assertPostgresSawTrace(self, trace):
        log = os.path.join(shared_engines().pg.dir, "postgres.log")
        def found():
            with open(log, errors="replace") as f:
                return any(f"/*traceparent='00-{trace}-" in line for line in f)
        self.assertTrue(self.collector.wait_for(found, timeout=10),
                        "no statement with the trace's comment in the PostgreSQL log")

    def test_unsampled_and_new_traces_are_not_exported(self):
        quiet = os.urandom(16).hex()
        r = self.traced("GET", "/v1/users/me", quiet, sampled=False, key=self.key)
        self.assertEqual(r.status, 200)
        # Without a traceparent the server starts a trace; --trace-sample-ratio 0 keeps it.
        r2 = self.server.request("GET", "/v1/users/me", key=self.key)
        self.assertEqual(r2.status, 200)
        # A sampled request after them: once its span is in, the earlier ones would be too.
        loud = os.urandom(16).hex()
        self.assertEqual(self.traced("GET", "/v1/users/me", loud, key=self.key).status, 200)
        self.assertTrue(self.collector.wait_for(lambda: self.collector.of_trace(loud)))
        self.assertEqual(self.collector.of_trace(quiet), [])
        self.assertTrue(self.collector.wait_for(
            lambda: self.log_line(r2.header("x-request-id")) is not None))
        line = self.log_line(r2.header("x-request-id"))
        self.assertRegex(line["traceId"], "^[0-9a-f]{32}$")
        self.assertEqual(self.collector.of_trace(line["traceId"]), [])

    def test_dead_collector_costs_only_spans(self):
        server = Server(extra_args=["--otlp-endpoint", f"http://127.0.0.1:{free_port()}/v1/traces",
                                    "--trace-sample-ratio", "1"], nodes=1).start()
        try:
            for _ in range(20):
                self.assertEqual(server.request("GET", "/healthz").status, 200)

            def dropped():
                for line in server.metrics().splitlines():
                    if line.startswith("imgd_trace_spans_dropped_total"):
                        return float(line.split()[1]) >= 20
                return False
            self.assertTrue(self.collector.wait_for(dropped, timeout=20))
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
