"""The seed's upload flows: pre-signed URLs, upload by imageUrl (with the SSRF policy, loopback
targets only), tus resumable uploads, and Idempotency-Key on every POST /v1/images flow."""
import base64
import datetime
import http.server
import json
import socket
import threading
import time
import unittest
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from harness import Server, ServerTest, corpus_bytes, sha256

PHOTO = "real/real_01_skagen_800x533.jpg"
OTHER = "real/real_02_honeybee_1620x1280.jpg"
TUS = {"Tus-Resumable": "1.0.0"}


def presign(server, key, size, **extra):
    body = {"imageName": "presigned", "imageDescription": "seed flow", "format": "jpg",
            "size": size}
    body.update(extra)
    return server.request("POST", "/v1/images", json.dumps(body),
                          {"Content-Type": "application/json"}, key=key)


def path_of(url):
    return urllib.parse.urlsplit(url).path


def put(server, url_or_path, data, headers=None, method="PUT"):
    path = path_of(url_or_path) if url_or_path.startswith("http") else url_or_path
    return server.request(method, path, data, dict({"Content-Type": "image/jpeg"},
                                                   **(headers or {})))


class PresignedTest(ServerTest):
    def setUp(self):
        self.key = self.server.create_user("presign")["apiKey"]

    def test_whole_flow_gives_identical_bytes(self):
        data = corpus_bytes(PHOTO)
        r = presign(self.server, self.key, len(data))
        self.assertEqual(r.status, 201, r.body)
        img = r.json()
        self.assertEqual(img["status"], "pending")
        self.assertEqual(img["size"], len(data))
        self.assertIsNone(img["sha256"])
        self.assertIn("expiresAt", img)
        self.assertTrue(img["preSignedUrl"].startswith(f"http://127.0.0.1:{self.server.port}/"))
        # Pending: visible as such in GET and in the list; its content is a 409.
        g = self.server.request("GET", "/v1/images/" + img["imageId"], key=self.key)
        self.assertEqual(g.json()["status"], "pending")
        listed = self.server.request("GET", "/v1/images", key=self.key).json()["images"]
        self.assertIn(("pending", img["imageId"]), [(i["status"], i["imageId"]) for i in listed])
        self.assertProblem(self.server.request("GET", img["imageUrl"][len("http://127.0.0.1:") +
                                                                      len(str(self.server.port)):]),
                           409, "image-pending")
        # The URL needs no API key.
        done = put(self.server, img["preSignedUrl"], data)
        self.assertEqual(done.status, 200, done.body)
        ready = done.json()
        self.assertEqual(ready["imageId"], img["imageId"])
        self.assertEqual(ready["status"], "ready")
        self.assertEqual(ready["sha256"], sha256(data))
        self.assertEqual((ready["width"], ready["height"]), (800, 533))
        self.assertEqual(ready["imageName"], "presigned")
        content = self.server.request("GET", f"/v1/images/{img['imageId']}/content")
        self.assertEqual(content.status, 200)
        self.assertEqual(content.body, data)
        # Reuse of a completed URL.
        self.assertProblem(put(self.server, img["preSignedUrl"], data), 409, "upload-completed")

    def test_tampered_expired_and_wrong_method_are_refused(self):
        data = corpus_bytes(PHOTO)
        url = presign(self.server, self.key, len(data)).json()["preSignedUrl"]
        token = path_of(url).rsplit("/", 1)[1]
        v, image_id, size, expires, policy, kid, sig = token.split(".")
        other_id = presign(self.server, self.key, len(data)).json()["imageId"]
        flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
        tampered = [
            (v, other_id, size, expires, policy, kid, sig),
            (v, image_id, str(int(size) + 1), expires, policy, kid, sig),
            (v, image_id, size, str(int(expires) + 3600), policy, kid, sig),
            (v, image_id, size, expires, "new", kid, sig),
            (v, image_id, size, expires, policy, "k9", sig),
            (v, image_id, size, expires, policy, kid, flipped),
            (v, image_id, size, expires, policy, kid, ""),
            (v, image_id, size, expires, policy, kid),
        ]
        for parts in tampered:
            r = put(self.server, "/v1/uploads/" + ".".join(parts), data)
            self.assertProblem(r, 403)
        for method in ("PATCH", "DELETE", "GET", "POST"):
            r = put(self.server, path_of(url), data, method=method)
            self.assertIn(r.status, (403, 405), (method, r.body))
        # Still pending after all of that, and the genuine URL still works.
        self.assertEqual(put(self.server, url, data).status, 200)

    def test_size_must_match_exactly(self):
        data = corpus_bytes(PHOTO)
        img = presign(self.server, self.key, len(data) + 10).json()
        self.assertProblem(put(self.server, img["preSignedUrl"], data), 422, "size-mismatch")
        # A body without Content-Length (chunked) is counted as it streams.
        short = put(self.server, img["preSignedUrl"], iter([data[:1000], data[1000:]]))
        self.assertProblem(short, 422, "size-mismatch")
        img = presign(self.server, self.key, len(data) - 10).json()
        longer = put(self.server, img["preSignedUrl"], iter([data]))
        self.assertProblem(longer, 422, "size-mismatch")
        # Nothing got stored, the image stays pending.
        g = self.server.request("GET", "/v1/images/" + img["imageId"], key=self.key)
        self.assertEqual(g.json()["status"], "pending")

    def test_bad_bytes_and_bad_requests(self):
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
        img = presign(self.server, self.key, len(png)).json()
        self.assertProblem(put(self.server, img["preSignedUrl"], png), 415)
        truncated = corpus_bytes("bad/b14_truncated_99pct.jpg")
        img = presign(self.server, self.key, len(truncated)).json()
        self.assertProblem(put(self.server, img["preSignedUrl"], truncated), 422)
        self.assertProblem(presign(self.server, self.key, 10, format="png"), 415)
        self.assertProblem(presign(self.server, self.key, 0), 400)
        self.assertProblem(presign(self.server, self.key, -5), 400)
        self.assertProblem(presign(self.server, self.key, "12"), 400)
        self.assertProblem(presign(self.server, self.key, 1 << 40), 413)
        self.assertProblem(presign(self.server, self.key, 10, color="red"), 400)
        # The document allows none of these fields to be null (Schemathesis found it).
        for field in ("visibility", "format", "imageName", "sha256"):
            p = self.assertProblem(presign(self.server, self.key, 10, **{field: None}), 400)
            self.assertIn(field, p["detail"])
        r = self.server.request("POST", "/v1/images", json.dumps({"format": "jpg"}),
                                {"Content-Type": "application/json"}, key=self.key)
        self.assertProblem(r, 400)
        self.assertProblem(self.server.request("POST", "/v1/images", "{",
                                               {"Content-Type": "application/json"}, key=self.key),
                           400)
        self.assertProblem(presign(self.server, "wrong-key", 10), 401)

    def test_duplicate_resolves_to_existing_image(self):
        data = corpus_bytes(OTHER)
        first = self.server.upload(data, self.key).json()
        img = presign(self.server, self.key, len(data)).json()
        r = put(self.server, img["preSignedUrl"], data)
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.json()["duplicate"])
        self.assertEqual(r.json()["imageId"], first["imageId"])
        # The pending record is gone: the user has one image for these bytes.
        self.assertProblem(self.server.request("GET", "/v1/images/" + img["imageId"],
                                               key=self.key), 404)
        # onDuplicate is carried (signed) in the URL.
        r = self.server.request("POST", "/v1/images?onDuplicate=reject",
                                json.dumps({"size": len(data)}),
                                {"Content-Type": "application/json"}, key=self.key)
        p = self.assertProblem(put(self.server, r.json()["preSignedUrl"], data), 409,
                               "duplicate-image")
        self.assertEqual(p["existingImageId"], first["imageId"])


class PresignExpiryTest(unittest.TestCase):
    def test_expired_url_refused_and_pending_swept(self):
        server = Server(extra_args=["--presign-ttl", "1", "--gc-interval", "1",
                                    "--gc-grace", "0"]).start()
        try:
            key = server.create_user("exp")["apiKey"]
            data = corpus_bytes(PHOTO)
            img = presign(server, key, len(data)).json()
            # Wait for the clock to pass the expiry (this is the behaviour under test, not
            # synchronisation with the server), then for the periodic sweep.
            deadline = time.monotonic() + 30
            r = None
            not_jpeg = b"x" * len(data)  # 415 while the URL works, leaving the image pending
            while time.monotonic() < deadline:
                r = put(server, img["preSignedUrl"], not_jpeg)
                if r.status != 415:
                    break
                time.sleep(0.2)
            self.assertEqual(r.status, 403, r.body)
            self.assertIn("expired", r.json()["detail"])
            while time.monotonic() < deadline:
                g = server.request("GET", "/v1/images/" + img["imageId"], key=key)
                if g.status == 404:
                    break
                time.sleep(0.2)
            self.assertEqual(g.status, 404)
        finally:
            server.cleanup()

    def test_gc_command_removes_expired_pending(self):
        server = Server(extra_args=["--presign-ttl", "1"]).start()
        try:
            key = server.create_user("exp")["apiKey"]
            img = presign(server, key, 1000).json()
            server.stop()
            expires = datetime.datetime.fromisoformat(img["expiresAt"].replace("Z", "+00:00"))
            # Let the expiry pass: gc compares it with the clock.
            time.sleep(max(0.0, expires.timestamp() - time.time() + 0.05))
            out = server.gc(grace=3600)
            self.assertEqual(out.returncode, 0, out.stderr)
            n = sum(1 for image_id, _, _ in server.images() if image_id == img["imageId"])
            self.assertEqual(n, 0, out.stdout)
        finally:
            server.cleanup()


class SourceHandler(http.server.BaseHTTPRequestHandler):
    """A local image source: /photo.jpg, /big.jpg, redirects, and errors."""
    routes = {}

    def do_GET(self):
        route = self.routes.get(self.path)
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, headers, body = route
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class SourceServer:
    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SourceHandler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ImageUrlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.source = SourceServer()
        cls.refused_port = free_port()  # nothing listens there; it must never be contacted
        data = corpus_bytes(PHOTO)
        SourceHandler.routes = {
            "/photo.jpg": (200, {"Content-Type": "application/octet-stream"}, data),
            "/other.jpg": (200, {}, corpus_bytes(OTHER)),
            "/page.html": (200, {"Content-Type": "text/html"}, b"<html>hi</html>"),
            "/to-photo": (302, {"Location": "/photo.jpg"}, b""),
            "/to-refused": (302, {"Location": f"http://127.0.0.1:{cls.refused_port}/x.jpg"}, b""),
            "/to-localhost": (301, {"Location": f"http://localhost:{cls.refused_port}/x"}, b""),
            "/r1": (302, {"Location": "/r2"}, b""), "/r2": (302, {"Location": "/r3"}, b""),
            "/r3": (302, {"Location": "/r4"}, b""), "/r4": (302, {"Location": "/photo.jpg"}, b""),
            "/r2b": (307, {"Location": "/r3b"}, b""), "/r3b": (308, {"Location": "/photo.jpg"},
                                                              b""),
            "/err": (500, {}, b"oops"),
        }
        cls.photo = data
        cls.open = Server(extra_args=["--fetch-allow", f"127.0.0.1:{cls.source.port}",
                                      "--max-upload-bytes", "200000"]).start()
        cls.closed = Server().start()

    @classmethod
    def tearDownClass(cls):
        cls.open.cleanup()
        cls.closed.cleanup()
        cls.source.close()

    def fetch(self, server, key, url, **extra):
        body = {"imageUrl": url}
        body.update(extra)
        return server.request("POST", "/v1/images", json.dumps(body),
                              {"Content-Type": "application/json"}, key=key)

    def test_allowed_source_is_fetched_and_validated(self):
        key = self.open.create_user("fetch")["apiKey"]
        r = self.fetch(self.open, key, self.source.url("/photo.jpg"), imageName="from url")
        self.assertEqual(r.status, 201, r.body)
        img = r.json()
        self.assertEqual(img["sha256"], sha256(self.photo))
        self.assertEqual(img["imageName"], "from url")
        got = self.open.request("GET", f"/v1/images/{img['imageId']}/content")
        self.assertEqual(got.body, self.photo)
        # A retry with the same Idempotency-Key replays the answer without fetching again.
        h = {"Content-Type": "application/json", "Idempotency-Key": "url-retry"}
        body = json.dumps({"imageUrl": self.source.url("/photo.jpg")})
        first = self.open.request("POST", "/v1/images?onDuplicate=new", body, h, key=key)
        again = self.open.request("POST", "/v1/images?onDuplicate=new", body, h, key=key)
        self.assertEqual(first.status, 201, first.body)
        self.assertEqual((again.status, again.body), (first.status, first.body))
        self.assertEqual(again.header("idempotent-replayed"), "true")
        # Redirects within the allowed source are followed (up to 3).
        r = self.fetch(self.open, key, self.source.url("/to-photo"))
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.json()["duplicate"])
        self.assertEqual(self.fetch(self.open, key, self.source.url("/r2")).status, 200)
        self.assertEqual(self.fetch(self.open, key, self.source.url("/r2b")).status, 200)
        p = ServerTest.assertProblem(self, self.fetch(self.open, key, self.source.url("/r1")),
                                     422, "fetch-failed")
        self.assertIn("redirects", p["detail"])
        # The bytes decide: an HTML page is not an image; a body over the limit is refused.
        ServerTest.assertProblem(self, self.fetch(self.open, key, self.source.url("/page.html")),
                                 415)
        ServerTest.assertProblem(self, self.fetch(self.open, key, self.source.url("/other.jpg")),
                                 413)
        ServerTest.assertProblem(self, self.fetch(self.open, key, self.source.url("/missing")),
                                 422, "fetch-failed")
        ServerTest.assertProblem(self, self.fetch(self.open, key, self.source.url("/err")), 422)

    def test_redirect_to_a_refused_port_is_refused(self):
        key = self.open.create_user("fetch2")["apiKey"]
        for path in ("/to-refused", "/to-localhost"):
            p = ServerTest.assertProblem(self, self.fetch(self.open, key, self.source.url(path)),
                                         400)
            self.assertIn("loopback", p["detail"])
            self.assertEqual(p["parameter"], "imageUrl")
        before = self.open.image_rows()
        self.assertEqual(self.open.image_rows(), before)

    def test_without_allow_list_loopback_is_refused(self):
        key = self.closed.create_user("ssrf")["apiKey"]
        port = self.source.port
        for url in (f"http://127.0.0.1:{port}/photo.jpg", f"http://localhost:{port}/photo.jpg",
                    f"http://[::1]:{port}/photo.jpg", f"http://[::ffff:127.0.0.1]:{port}/photo.jpg",
                    f"http://127.1:{port}/photo.jpg", f"http://2130706433:{port}/photo.jpg",
                    f"https://127.0.0.1:{port}/photo.jpg"):
            p = ServerTest.assertProblem(self, self.fetch(self.closed, key, url), 400)
            self.assertEqual(p["parameter"], "imageUrl", url)
        for url in ("ftp://127.0.0.1/x.jpg", "file:///etc/passwd", "gopher://127.0.0.1/",
                    f"http://user:pw@127.0.0.1:{port}/photo.jpg", "not a url", "", "/relative"):
            ServerTest.assertProblem(self, self.fetch(self.closed, key, url), 400)
        ServerTest.assertProblem(self, self.fetch(self.closed, key, 5), 400)
        self.assertEqual(self.closed.image_rows(), 0)


class FetchTimeoutTest(unittest.TestCase):
    def test_silent_source_times_out(self):
        # Accepts connections (the kernel completes the handshake) and never answers.
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        server = Server(extra_args=["--fetch-allow", f"127.0.0.1:{port}",
                                    "--fetch-timeout", "1"]).start()
        try:
            key = server.create_user("slow")["apiKey"]
            started = time.monotonic()
            r = server.request("POST", "/v1/images",
                               json.dumps({"imageUrl": f"http://127.0.0.1:{port}/a.jpg"}),
                               {"Content-Type": "application/json"}, key=key)
            self.assertEqual(r.status, 504, r.body)
            self.assertEqual(r.json()["type"], "/problems/fetch-timeout")
            self.assertLess(time.monotonic() - started, 10)
        finally:
            server.cleanup()
            silent.close()


class IdempotencyTest(ServerTest):
    def setUp(self):
        self.key = self.server.create_user("idem")["apiKey"]

    def post(self, body, content_type, idem, query=""):
        return self.server.request("POST", "/v1/images" + query, body,
                                   {"Content-Type": content_type, "Idempotency-Key": idem},
                                   key=self.key)

    def test_direct_upload_retry_returns_first_response(self):
        data = corpus_bytes(PHOTO)
        first = self.post(data, "image/jpeg", "direct-1", "?onDuplicate=new")
        self.assertEqual(first.status, 201)
        again = self.post(data, "image/jpeg", "direct-1", "?onDuplicate=new")
        self.assertEqual(again.status, 201)
        self.assertEqual(again.body, first.body)
        self.assertEqual(again.header("idempotent-replayed"), "true")
        self.assertEqual(again.header("location"), first.header("location"))
        # onDuplicate=new would have made a second record had it run again.
        self.assertEqual(self.server.image_rows_of(self.key), 1)
        # Same key, other bytes or other parameters: refused.
        self.assertProblem(self.post(corpus_bytes(OTHER), "image/jpeg", "direct-1",
                                     "?onDuplicate=new"), 422, "idempotency-key-reused")
        self.assertProblem(self.post(data, "image/jpeg", "direct-1"), 422)
        # Keys are per user.
        other = self.server.create_user("idem-other")["apiKey"]
        r = self.server.request("POST", "/v1/images", data,
                                {"Content-Type": "image/jpeg", "Idempotency-Key": "direct-1"},
                                key=other)
        self.assertEqual(r.status, 201)
        self.assertNotEqual(r.json()["imageId"], first.json()["imageId"])

    def test_presigned_and_url_flows_are_idempotent(self):
        body = json.dumps({"imageName": "p", "size": 1234})
        first = self.post(body, "application/json", "presign-1")
        self.assertEqual(first.status, 201)
        again = self.post(body, "application/json", "presign-1")
        self.assertEqual(again.body, first.body)  # the same pending image and URL
        self.assertProblem(self.post(json.dumps({"imageName": "p", "size": 99}),
                                     "application/json", "presign-1"), 422)
        # imageUrl flow (a refused URL fails, and a failure is not stored: the retry runs).
        bad = json.dumps({"imageUrl": "http://127.0.0.1:1/x.jpg"})
        self.assertProblem(self.post(bad, "application/json", "url-1"), 400)
        self.assertProblem(self.post(bad, "application/json", "url-1"), 400)
        # Multipart uploads too.
        data = corpus_bytes(OTHER)
        boundary = "b0undary"
        mp = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\""
              f"\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        ct = "multipart/form-data; boundary=" + boundary
        m1 = self.post(mp, ct, "mp-1", "?onDuplicate=new")
        m2 = self.post(mp, ct, "mp-1", "?onDuplicate=new")
        self.assertEqual(m1.status, 201)
        self.assertEqual(m2.body, m1.body)

    def test_sixteen_concurrent_posts_with_one_key_make_one_image(self):
        data = corpus_bytes("real/real_03_storm_1920x1280.jpg")
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(
                lambda _: self.post(data, "image/jpeg", "race-1", "?onDuplicate=new"), range(16)))
        self.assertEqual({r.status for r in results}, {201}, [r.body[:200] for r in results])
        self.assertEqual(len({r.json()["imageId"] for r in results}), 1)
        self.assertEqual(sum(1 for r in results if r.header("idempotent-replayed")), 15)
        n = sum(1 for _, sha, _ in self.server.images() if sha == sha256(data))
        self.assertEqual(n, 1)

    def test_bad_keys(self):
        self.assertProblem(self.post(b"x", "image/jpeg", "x" * 300), 400)
        self.assertProblem(self.post(b"x", "image/jpeg", "bad key"), 400)


def tus_metadata(**kv):
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in kv.items())


class TusTest(ServerTest):
    def setUp(self):
        self.key = self.server.create_user("tus")["apiKey"]

    def create(self, length, key=None, **meta):
        h = dict(TUS, **{"Upload-Length": str(length)})
        if meta:
            h["Upload-Metadata"] = tus_metadata(**meta)
        return self.server.request("POST", "/v1/uploads", b"", h, key=key or self.key)

    def patch(self, loc, offset, data, key=None, headers=None):
        h = dict(TUS, **{"Upload-Offset": str(offset),
                         "Content-Type": "application/offset+octet-stream"})
        h.update(headers or {})
        return self.server.request("PATCH", path_of(loc), data, h, key=key or self.key)

    def head(self, loc, key=None):
        return self.server.request("HEAD", path_of(loc), None, TUS, key=key or self.key)

    def test_upload_in_pieces(self):
        opt = self.server.request("OPTIONS", "/v1/uploads")
        self.assertEqual(opt.status, 204)
        self.assertEqual(opt.header("tus-version"), "1.0.0")
        self.assertIn("creation", opt.header("tus-extension"))
        self.assertIn("termination", opt.header("tus-extension"))
        data = corpus_bytes(OTHER)
        c = self.create(len(data), imageName="by tus", imageDescription="in\tpieces")
        self.assertEqual(c.status, 201, c.body)
        loc = c.header("location")
        self.assertTrue(loc.startswith(f"http://127.0.0.1:{self.server.port}/v1/uploads/"))
        self.assertEqual(c.header("tus-resumable"), "1.0.0")
        self.assertEqual(self.head(loc).header("upload-offset"), "0")
        cuts = [0, 1, 2, 3, 5000, 65536 * 3 + 7, len(data)]
        for a, b in zip(cuts, cuts[1:]):
            r = self.patch(loc, a, data[a:b])
            if b < len(data):
                self.assertEqual(r.status, 204, r.body)
                self.assertEqual(r.header("upload-offset"), str(b))
                self.assertEqual(self.head(loc).header("upload-offset"), str(b))
                self.assertEqual(self.head(loc).header("upload-length"), str(len(data)))
        self.assertEqual(r.status, 200, r.body)
        img = r.json()
        self.assertEqual(img["sha256"], sha256(data))
        self.assertEqual(img["imageName"], "by tus")
        self.assertEqual(img["imageDescription"], "in\tpieces")
        self.assertEqual(self.server.request("GET", f"/v1/images/{img['imageId']}/content").body,
                         data)
        status = self.server.request("GET", path_of(loc), key=self.key).json()
        self.assertEqual(status["imageId"], img["imageId"])
        self.assertEqual(status["offset"], len(data))
        # Nothing more can be written to a finished upload.
        self.assertProblem(self.patch(loc, len(data), b"x"), 409)

    def test_protocol_errors(self):
        data = corpus_bytes(PHOTO)
        loc = self.create(len(data)).header("location")
        self.assertEqual(self.patch(loc, 0, data[:100]).status, 204)
        p = self.assertProblem(self.patch(loc, 50, data[50:200]), 409, "offset-mismatch")
        self.assertIn("100", p["detail"])
        self.assertProblem(self.patch(loc, 100, data[100:200], headers={"Tus-Resumable": "0.2"}),
                           412)
        self.assertProblem(self.patch(loc, 100, data[100:200],
                                      headers={"Content-Type": "image/jpeg"}), 415)
        self.assertProblem(self.patch(loc, 100, data[100:] + b"extra"), 413)
        # Still resumable at the acknowledged offset after all of that.
        self.assertEqual(self.head(loc).header("upload-offset"), "100")
        other = self.server.create_user("tus-other")["apiKey"]
        self.assertProblem(self.patch(loc, 100, data[100:], key=other), 403)
        self.assertEqual(self.head(loc, key=other).status, 403)
        self.assertEqual(self.patch(loc, 100, data[100:]).status, 200)
        self.assertProblem(self.create(0), 400)
        self.assertProblem(self.create(1 << 40), 413)
        self.assertProblem(self.server.request("POST", "/v1/uploads", b"", TUS, key=self.key), 400)
        self.assertProblem(self.server.request("POST", "/v1/uploads", b"",
                                               {"Upload-Length": "10"}, key=self.key), 412)
        self.assertProblem(self.create(10, key="nope"), 401)
        self.assertProblem(self.patch("/v1/uploads/" + "0" * 8 + "-0000-7000-8000-" + "0" * 12,
                                      0, b"x"), 404)

    def test_not_a_jpeg_is_refused_at_the_first_bytes(self):
        loc = self.create(1_000_000).header("location")
        self.assertProblem(self.patch(loc, 0, b"GIF89a" + b"\0" * 1000), 415)
        self.assertEqual(self.head(loc).status, 404)  # the upload is over
        # Complete but undecodable: 422, upload gone.
        bad = corpus_bytes("bad/b14_truncated_99pct.jpg")
        loc = self.create(len(bad)).header("location")
        self.assertProblem(self.patch(loc, 0, bad), 422)
        self.assertEqual(self.head(loc).status, 404)

    def test_pipelined_request_after_a_body(self):
        # A body is read to its declared length and no further: a request sent right behind
        # it, in the same packet, is the connection's next request.
        data = corpus_bytes(PHOTO)
        loc = self.create(len(data)).header("location")
        patch = (f"PATCH {path_of(loc)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.key}"
                 f"\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: "
                 f"application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n")
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=30) as s:
            s.sendall(patch.encode() + data + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            f = s.makefile("rb")
            first, image = read_response(f)
            second, health = read_response(f)
        self.assertTrue(first.startswith(b"HTTP/1.1 200"), first)  # the last PATCH: the image
        self.assertIn(f"Upload-Offset: {len(data)}\r\n".encode(), first)
        self.assertEqual(json.loads(image)["sha256"], sha256(data))
        self.assertTrue(second.startswith(b"HTTP/1.1 200"), second)
        self.assertEqual(json.loads(health)["status"], "ok")

    def test_termination(self):
        loc = self.create(500).header("location")
        self.assertEqual(self.patch(loc, 0, b"\xff\xd8\xff" + b"\0" * 10).status, 204)
        r = self.server.request("DELETE", path_of(loc), None, TUS, key=self.key)
        self.assertEqual(r.status, 204)
        self.assertEqual(self.head(loc).status, 404)
        self.assertEqual(os_listdir(self.server, "resumable"), [])


def read_response(f):
    """One HTTP/1.1 response with a Content-Length off a socket's file: (head, body)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = f.readline()
        if not line:
            raise AssertionError("connection closed mid-response: " + repr(head))
        head += line
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, f.read(length)


def os_listdir(server, sub):
    return server.stored_keys(sub + "/")


class TusRestartTest(unittest.TestCase):
    def test_resume_after_a_server_restart_rehashes_once(self):
        server = Server().start()
        try:
            key = server.create_user("tus-restart")["apiKey"]
            base = corpus_bytes(PHOTO)
            # A valid JPEG of 24 MB: COM segments after SOI.
            pad = b"".join(b"\xff\xfe\xff\xff" + b"\0" * 65533 for _ in range(384))
            data = base[:2] + pad + base[2:]
            tus = dict(TUS, **{"Upload-Length": str(len(data))})
            loc = server.request("POST", "/v1/uploads", b"", tus, key=key).header("location")
            upload_path = path_of(loc)
            half = len(data) // 2
            patch = dict(TUS, **{"Content-Type": "application/offset+octet-stream"})
            r = server.request("PATCH", upload_path, data[:half],
                               dict(patch, **{"Upload-Offset": "0"}), key=key)
            self.assertEqual(r.status, 204)
            server.stop()
            server.start()  # the running hash is gone with the process
            h = server.request("HEAD", upload_path, None, TUS, key=key)
            self.assertEqual(h.header("upload-offset"), str(half))
            started = time.monotonic()
            r = server.request("PATCH", upload_path, data[half:],
                               dict(patch, **{"Upload-Offset": str(half)}), key=key)
            elapsed = time.monotonic() - started
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.json()["sha256"], sha256(data))
            m = [line for line in server.metrics().splitlines()
                 if line.startswith("imgd_resumable_rehashed_bytes_total")]
            self.assertEqual(m and float(m[0].split()[-1]), float(half))
            print(f"\nresume after restart: re-hashed {half / 1e6:.1f} MB, last PATCH "
                  f"{elapsed * 1000:.0f} ms")
        finally:
            server.cleanup()


class TusExpiryTest(unittest.TestCase):
    def test_incomplete_upload_expires_and_is_swept(self):
        server = Server(extra_args=["--resumable-ttl", "1", "--gc-interval", "1",
                                    "--gc-grace", "0"]).start()
        try:
            key = server.create_user("tus-exp")["apiKey"]
            h = dict(TUS, **{"Upload-Length": "1000"})
            loc = server.request("POST", "/v1/uploads", b"", h, key=key).header("location")
            r = server.request("PATCH", path_of(loc), b"\xff\xd8\xff\xe0",
                               dict(TUS, **{"Upload-Offset": "0",
                                            "Content-Type": "application/offset+octet-stream"}),
                               key=key)
            self.assertEqual(r.status, 204)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and os_listdir(server, "resumable"):
                time.sleep(0.2)
            self.assertEqual(os_listdir(server, "resumable"), [])
            self.assertIn(server.request("HEAD", path_of(loc), None, TUS, key=key).status,
                          (404, 410))
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
