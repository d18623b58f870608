"""The v1 API surface: auth, metadata, listing, updates, deletes, delivery headers, errors."""
import base64
import json
import re
import time

from harness import ADMIN_KEY, ServerTest, corpus_bytes, sha256

PHOTO = "real/real_02_honeybee_1620x1280.jpg"


class ApiTest(ServerTest):
    nodes = 1  # reads one process's access log and metrics
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls.server.create_user("alice")
        cls.bob = cls.server.create_user("bob")
        cls.data = corpus_bytes(PHOTO)
        r = cls.server.upload(cls.data, cls.alice["apiKey"], query="?imageName=bee")
        assert r.status == 201, r.body
        cls.image = r.json()

    def test_health_ready_metrics(self):
        self.assertEqual(self.server.request("GET", "/healthz").json(), {"status": "ok"})
        self.assertEqual(self.server.request("GET", "/readyz").json(),
                         {"status": "ready", "stores": {"meta": "ok", "blob": "ok"}})
        m = self.server.request("GET", "/metrics")
        self.assertTrue(m.header("content-type").startswith("text/plain"))
        text = m.body.decode()
        for name in ("imgd_http_requests_total", "imgd_http_request_duration_seconds_bucket",
                     "imgd_http_request_bytes_total", "imgd_http_response_bytes_total",
                     "imgd_uploads_total", "imgd_upload_duplicates_total",
                     "imgd_upload_rejects_total"):
            self.assertIn(name, text)
        self.assertRegex(text, r'imgd_http_requests_total\{route="/v1/images",method="POST",'
                               r'status="201"\} [1-9]')

    def test_request_id_is_echoed_or_generated(self):
        r = self.server.request("GET", "/healthz", headers={"X-Request-Id": "abc-123"})
        self.assertEqual(r.header("x-request-id"), "abc-123")
        r = self.server.request("GET", "/healthz", headers={"X-Request-Id": "bad id\x01"[:6]})
        self.assertNotEqual(r.header("x-request-id"), "bad id")
        self.assertRegex(self.server.request("GET", "/healthz").header("x-request-id"),
                         r"^[0-9a-f-]{36}$")

    def log_line(self, request_id):
        # The line is written once the response is sent, so it may trail our read.
        deadline = time.monotonic() + 10
        while True:
            with open(self.server.stderr_path) as f:
                lines = [json.loads(l) for l in f if request_id in l]
            if lines or time.monotonic() > deadline:
                return lines

    def test_access_log_carries_the_w3c_trace(self):
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        self.server.request("GET", "/healthz", headers={
            "X-Request-Id": "trace-check-1", "traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
        self.server.request("GET", "/healthz", headers={
            "X-Request-Id": "trace-check-2", "traceparent": "00-zz-not-valid"})
        [continued] = self.log_line("trace-check-1")
        [fresh] = self.log_line("trace-check-2")
        self.assertEqual(continued["traceId"], trace)
        self.assertRegex(continued["spanId"], r"^[0-9a-f]{16}$")
        self.assertNotEqual(continued["spanId"], "00f067aa0ba902b7")
        self.assertRegex(fresh["traceId"], r"^[0-9a-f]{32}$")
        self.assertNotEqual(fresh["traceId"], trace)

    def test_access_log_has_one_json_line_per_request(self):
        self.server.request("GET", "/v1/users/me", key=self.alice["apiKey"],
                            headers={"X-Request-Id": "log-check-1"})
        # The line is written once the response is sent, so it may trail our read.
        deadline = time.monotonic() + 10
        while True:
            with open(self.server.stderr_path) as f:
                lines = [json.loads(l) for l in f if "log-check-1" in l]
            if lines or time.monotonic() > deadline:
                break
        self.assertEqual(len(lines), 1)
        line = lines[0]
        for k in ("time", "requestId", "method", "route", "status", "bytes", "durationMs",
                  "userId"):
            self.assertIn(k, line)
        self.assertEqual(line["userId"], self.alice["userId"])
        self.assertEqual(line["route"], "/v1/users/me")

    def test_auth(self):
        me = f"/v1/images/{self.image['imageId']}"
        self.assertProblem(self.server.request("GET", me), 401, "unauthorized")
        self.assertProblem(self.server.request("GET", me, key="wrong"), 401)
        self.assertProblem(self.server.request("GET", me, headers={"Authorization": "Basic x"}), 401)
        self.assertProblem(self.server.request("GET", "/v1/images"), 401)
        self.assertProblem(self.server.upload(self.data, "wrong"), 401)
        self.assertProblem(self.server.request("GET", me, key=self.bob["apiKey"]), 403)
        self.assertProblem(self.server.request("PATCH", me, json.dumps({"imageName": "x"}),
                                               key=self.bob["apiKey"]), 403)
        self.assertProblem(self.server.request("DELETE", me, key=self.bob["apiKey"]), 403)
        self.assertEqual(self.server.request("GET", me, key=ADMIN_KEY).status, 200)
        self.assertProblem(self.server.request(
            "POST", "/v1/users", json.dumps({"userName": "e", "userEmail": "e@x.io"}),
            key=self.alice["apiKey"]), 403)
        me_json = self.server.request("GET", "/v1/users/me", key=self.bob["apiKey"]).json()
        self.assertEqual(me_json["userId"], self.bob["userId"])
        self.assertNotIn("apiKey", me_json)

    def test_user_creation_validates_input(self):
        for body in ('{"userName": "x"}', '{"userName": 5, "userEmail": "a@b"}', "not json",
                     '{"userName": "x", "userEmail": "nope"}',
                     '{"userName": "x", "userEmail": "a@b", "role": "admin"}', "[]"):
            self.assertProblem(self.server.request("POST", "/v1/users", body, key=ADMIN_KEY), 400)

    def test_get_metadata_with_seed_fields(self):
        r = self.server.request("GET", f"/v1/images/{self.image['imageId']}",
                                key=self.alice["apiKey"])
        self.assertEqual(r.status, 200)
        img = r.json()
        for k in ("imageId", "imageUrl", "imageName", "imageDescription", "createdBy",
                  "createdDate", "modifiedBy", "modifiedDate", "format", "size", "userId",
                  "width", "height", "sha256", "status"):
            self.assertIn(k, img)
        self.assertEqual(img["imageName"], "bee")
        self.assertEqual((img["width"], img["height"]), (1620, 1280))
        self.assertEqual(img["createdBy"], self.alice["userId"])
        self.assertRegex(img["createdDate"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertRegex(img["imageId"], r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-")
        self.assertTrue(img["imageUrl"].endswith(f"/v1/images/{img['imageId']}/content"))
        self.assertNotIn("imageData", img)
        with_data = self.server.request("GET", f"/v1/images/{img['imageId']}?include=imageData",
                                        key=self.alice["apiKey"]).json()
        self.assertEqual(base64.b64decode(with_data["imageData"]), self.data)
        self.assertProblem(self.server.request("GET", f"/v1/images/{img['imageId']}?include=x",
                                               key=self.alice["apiKey"]), 400)
        self.assertProblem(self.server.request("GET", f"/v1/images/{img['imageId']}?bogus=1",
                                               key=self.alice["apiKey"]), 400, "unknown-parameter")

    def test_missing_and_malformed_ids(self):
        for path in ("/v1/images/01900000-0000-7000-8000-000000000000",
                     "/v1/images/not-a-uuid", "/v1/images/..%2F..%2Fetc%2Fpasswd",
                     "/v1/images/%00"):
            self.assertProblem(self.server.request("GET", path, key=self.alice["apiKey"]), 404)
            self.assertProblem(self.server.request("GET", path + "/content"), 404)
        self.assertProblem(self.server.request("GET", "/nope"), 404)
        self.assertProblem(self.server.request("GET", "/../../etc/passwd"), 404)
        r = self.server.request("PUT", "/v1/images")
        self.assertProblem(r, 405)
        self.assertIn("GET", r.header("allow"))

    def test_patch_changes_name_and_modified_fields(self):
        key = self.alice["apiKey"]
        img = self.server.upload(corpus_bytes("variants/v01_baseline_q85_420.jpg"), key).json()
        r = self.server.request("PATCH", f"/v1/images/{img['imageId']}",
                                json.dumps({"imageName": "renamed", "imageDescription": "d\nx"}),
                                {"Content-Type": "application/json"}, key=ADMIN_KEY)
        self.assertEqual(r.status, 200, r.body)
        up = r.json()
        self.assertEqual(up["imageName"], "renamed")
        self.assertEqual(up["imageDescription"], "d\nx")
        self.assertEqual(up["createdBy"], self.alice["userId"])
        self.assertNotEqual(up["modifiedBy"], self.alice["userId"])  # the admin changed it
        self.assertGreaterEqual(up["modifiedDate"], img["modifiedDate"])
        for body in ('{"size": 5}', '{}', '{"imageName": 3}', 'nope', '{"imageName": "a\\u0001"}'):
            self.assertProblem(self.server.request("PATCH", f"/v1/images/{img['imageId']}", body,
                                                   key=key), 400)

    def test_content_headers_range_head_and_304(self):
        url = f"/v1/images/{self.image['imageId']}/content"
        r = self.server.request("GET", url)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, self.data)
        etag = r.header("etag")
        self.assertEqual(etag, f'"{sha256(self.data)}"')
        self.assertEqual(r.header("content-length"), str(len(self.data)))
        self.assertEqual(r.header("content-type"), "image/jpeg")
        self.assertIn("max-age", r.header("cache-control"))
        self.assertEqual(r.header("accept-ranges"), "bytes")

        h = self.server.request("HEAD", url)
        self.assertEqual(h.status, 200)
        self.assertEqual(h.body, b"")
        self.assertEqual(h.header("content-length"), str(len(self.data)))
        self.assertEqual(h.header("etag"), etag)

        nm = self.server.request("GET", url, headers={"If-None-Match": etag})
        self.assertEqual(nm.status, 304)
        self.assertEqual(nm.body, b"")
        self.assertEqual(nm.header("etag"), etag)
        self.assertEqual(self.server.request("GET", url, headers={"If-None-Match": '"other"'})
                         .status, 200)
        self.assertEqual(self.server.request("GET", url, headers={"If-None-Match": f'"x", W/{etag}'})
                         .status, 304)

        p = self.server.request("GET", url, headers={"Range": "bytes=100-199"})
        self.assertEqual(p.status, 206)
        self.assertEqual(p.body, self.data[100:200])
        self.assertEqual(p.header("content-range"), f"bytes 100-199/{len(self.data)}")
        s = self.server.request("GET", url, headers={"Range": "bytes=-10"})
        self.assertEqual((s.status, s.body), (206, self.data[-10:]))
        o = self.server.request("GET", url, headers={"Range": "bytes=1000-"})
        self.assertEqual((o.status, o.body), (206, self.data[1000:]))
        bad = self.server.request("GET", url, headers={"Range": f"bytes={len(self.data)}-"})
        self.assertProblem(bad, 416)
        self.assertEqual(bad.header("content-range"), f"bytes */{len(self.data)}")
        multi = self.server.request("GET", url, headers={"Range": "bytes=0-1,5-6"})
        self.assertEqual((multi.status, multi.body), (200, self.data))
        stale = self.server.request("GET", url, headers={"Range": "bytes=0-1", "If-Range": '"old"'})
        self.assertEqual(stale.status, 200)

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        c = self.server.conn()
        url = f"/v1/images/{self.image['imageId']}/content"
        for _ in range(20):
            r = self.server.request("GET", url, conn=c)
            self.assertEqual(r.body, self.data)
        key = self.alice["apiKey"]
        bad = self.server.upload(corpus_bytes("bad/b03_png_renamed.jpg"), key, conn=c)
        self.assertProblem(bad, 415)
        self.assertEqual(self.server.request("GET", url, conn=c).status, 200)
        c.close()

    def test_list_pages_newest_first(self):
        user = self.server.create_user("lister")
        key = user["apiKey"]
        names = ["v01_baseline_q85_420", "v02_progressive_q85_420", "v03_chroma444_q90",
                 "v04_chroma422_q90", "v05_chroma420_q90", "v06_chroma440_q90",
                 "v07_chroma411_q90", "v08_grayscale_q85"]
        ids = []
        for n in names:
            r = self.server.upload(corpus_bytes(f"variants/{n}.jpg"), key)
            self.assertEqual(r.status, 201)
            ids.append(r.json()["imageId"])
        walked, cursor, pages = [], None, 0
        while True:
            q = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
            page = self.server.request("GET", "/v1/images" + q, key=key).json()
            walked += [i["imageId"] for i in page["images"]]
            pages += 1
            cursor = page["nextCursor"]
            if not cursor:
                break
        self.assertEqual(walked, list(reversed(ids)))
        self.assertEqual(pages, 3)
        others = self.server.request("GET", "/v1/images", key=self.bob["apiKey"]).json()
        self.assertFalse(set(ids) & {i["imageId"] for i in others["images"]})
        for q in ("?limit=0", "?limit=1001", "?limit=x", "?cursor=!!", "?cursor=YWJj", "?foo=1"):
            self.assertProblem(self.server.request("GET", "/v1/images" + q, key=key), 400)

    def test_delete(self):
        key = self.alice["apiKey"]
        img = self.server.upload(corpus_bytes("variants/v19_optimized_huffman.jpg"), key).json()
        path = f"/v1/images/{img['imageId']}"
        r = self.server.request("DELETE", path, key=key)
        self.assertEqual((r.status, r.body), (204, b""))
        self.assertProblem(self.server.request("GET", path, key=key), 404)
        self.assertProblem(self.server.request("DELETE", path, key=key), 404)
        self.assertProblem(self.server.request("GET", path + "/content"), 404)

    def test_upload_errors(self):
        key = self.alice["apiKey"]
        self.assertProblem(self.server.upload(b"", key), 415)
        # JSON is the pre-signed flow (test_uploads): without a size it is a 400 naming it.
        p = self.assertProblem(self.server.upload(b'{"imageName": "x"}', key,
                                                  content_type="application/json"), 400)
        self.assertEqual(p["parameter"], "size")
        self.assertProblem(self.server.upload(self.data, key, query="?unknown=1"), 400)
        r = self.server.request("POST", "/v1/images", b"--x\r\nnope", {
            "Content-Type": "multipart/form-data; boundary=x"}, key=key)
        self.assertProblem(r, 400)
        no_file = self.server.request(
            "POST", "/v1/images",
            b'--x\r\nContent-Disposition: form-data; name="imageName"\r\n\r\nn\r\n--x--\r\n',
            {"Content-Type": "multipart/form-data; boundary=x"}, key=key)
        self.assertProblem(no_file, 400, "missing-file")
        self.assertEqual(self.server.temp_files(), [])
