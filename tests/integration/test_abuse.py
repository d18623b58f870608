"""Abuse limits: per-address and per-key request rates, the upload-byte budget, the global
cap on concurrent uploads, connection caps and slow clients (slowloris). Loopback only,
bounded in count and time; every wait has a deadline and polls a condition."""
import json
import socket
import time
import unittest

from harness import ADMIN_KEY, Server, corpus_bytes


def raw_connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


def read_until_closed(sock, limit=1 << 20):
    data = b""
    while len(data) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def wait_for(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)  # polling a condition with a deadline, not waiting for an event
    return False


class RateLimitTest(unittest.TestCase):
    def assertRateLimited(self, r, exhausted=True):
        self.assertEqual(r.status, 429, r.body)
        self.assertEqual(r.header("content-type"), "application/problem+json")
        self.assertEqual(r.json()["type"], "/problems/rate-limited")
        self.assertGreaterEqual(int(r.header("retry-after")), 1)
        self.assertIsNotNone(r.header("ratelimit-limit"))
        if exhausted:
            self.assertEqual(r.header("ratelimit-remaining"), "0")
        self.assertGreaterEqual(int(r.header("ratelimit-reset")), 1)

    def test_per_key_requests(self):
        server = Server(extra_args=["--rate-limit-key", "0.5"], nodes=1).start()  # burst 1
        try:
            alice = server.create_user("alice")["apiKey"]
            bob = server.create_user("bob")["apiKey"]
            self.assertEqual(server.request("GET", "/v1/users/me", key=alice).status, 200)
            r = server.request("GET", "/v1/users/me", key=alice)
            self.assertRateLimited(r)
            self.assertEqual(r.header("ratelimit-limit"), "1")
            # Another key is not affected; nor are reads that need no key.
            self.assertEqual(server.request("GET", "/v1/users/me", key=bob).status, 200)
            self.assertEqual(server.request("GET", "/healthz").status, 200)
            self.assertIn('imgd_rate_limited_total{limit="key_requests"} 1', server.metrics())
        finally:
            server.cleanup()

    def test_per_address_requests(self):
        server = Server(extra_args=["--rate-limit-ip", "1"], nodes=1).start()  # burst 2
        try:
            missing = "/v1/images/0190f0a0-0000-7000-8000-000000000001/content"
            codes = [server.request("GET", missing).status for _ in range(3)]
            self.assertEqual(codes[:2], [404, 404])
            self.assertEqual(codes[2], 429)
            # Health checks and scrapes are never limited.
            self.assertEqual(server.request("GET", "/healthz").status, 200)
            self.assertIn('imgd_rate_limited_total{limit="client_requests"} 1', server.metrics())
        finally:
            server.cleanup()

    def test_upload_byte_budget(self):
        photo = corpus_bytes("real/real_01_skagen_800x533.jpg")  # 71,682 bytes
        # 1 byte/s, burst = one largest upload (100,000 bytes): one photo passes, the next
        # does not fit in what is left and is refused before its body is read.
        server = Server(extra_args=["--rate-limit-upload-bytes", "1", "--max-upload-bytes",
                                    "100000"], nodes=1).start()
        try:
            key = server.create_user("u")["apiKey"]
            self.assertEqual(server.upload(photo, key).status, 201)
            r = server.upload(photo, key)
            self.assertRateLimited(r, exhausted=False)
            # 100,000 - 71,682 left, plus a byte per second since.
            self.assertGreaterEqual(int(r.header("ratelimit-remaining")), 28318)
            self.assertLess(int(r.header("ratelimit-remaining")), 28318 + 120)
            self.assertGreater(int(r.header("retry-after")), 40000)  # (71,682 - 28,318) / 1
            self.assertEqual(server.image_rows_of(key), 1)
        finally:
            server.cleanup()


class ConnectionLimitTest(unittest.TestCase):
    def test_connections_beyond_the_per_address_cap_get_503(self):
        server = Server(extra_args=["--max-connections-per-ip", "3"], nodes=1).start()
        socks = []
        try:
            for _ in range(3):
                s = raw_connect(server.port)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertIn(b"200 OK", s.recv(4096))  # accepted and served: counted
                socks.append(s)
            extra = raw_connect(server.port)
            reply = read_until_closed(extra)
            extra.close()
            self.assertTrue(reply.startswith(b"HTTP/1.1 503"), reply)
            self.assertIn(b"Retry-After: 1", reply)
            # Closing one frees a place.
            socks.pop().close()
            ok = False
            deadline = time.monotonic() + 10
            while not ok and time.monotonic() < deadline:
                s = raw_connect(server.port)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                ok = read_until_closed(s).startswith(b"HTTP/1.1 200")
                s.close()
            self.assertTrue(ok)
        finally:
            for s in socks:
                s.close()
            server.cleanup()

    def test_slow_headers_are_cut_off_and_do_not_hold_the_server(self):
        server = Server(extra_args=["--header-timeout", "2"], nodes=1).start()
        slow = []
        try:
            for _ in range(200):
                s = raw_connect(server.port)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Drip: ")  # never finished
                slow.append(s)
            # The server still answers others at once.
            t = time.monotonic()
            self.assertEqual(server.request("GET", "/healthz").status, 200)
            self.assertLess(time.monotonic() - t, 2)
            # Every dripping connection is closed by the header timeout, not the idle one (75 s).
            t = time.monotonic()
            for s in slow:
                s.settimeout(30)
                self.assertEqual(read_until_closed(s), b"")
            self.assertLess(time.monotonic() - t, 15)
        finally:
            for s in slow:
                s.close()
            server.cleanup()

    def test_an_idle_kept_alive_connection_is_not_cut_by_the_header_timeout(self):
        server = Server(extra_args=["--header-timeout", "1"], nodes=1).start()
        try:
            conn = server.conn()
            self.assertEqual(server.request("GET", "/healthz", conn=conn).status, 200)
            # Idle longer than the header timeout (but far less than the idle timeout): the
            # connection is still usable.
            time.sleep(2.5)  # being idle this long is the condition under test, not a wait
            self.assertEqual(server.request("GET", "/healthz", conn=conn).status, 200)
            conn.close()
        finally:
            server.cleanup()


class ConcurrentUploadCapTest(unittest.TestCase):
    def test_uploads_beyond_the_cap_get_503_and_the_first_completes(self):
        photo = corpus_bytes("real/real_02_honeybee_1620x1280.jpg")
        server = Server(extra_args=["--max-concurrent-uploads", "1"], nodes=1).start()
        try:
            key = server.create_user("u")["apiKey"]
            first = raw_connect(server.port)
            first.sendall((f"POST /v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}"
                           f"\r\nContent-Type: image/jpeg\r\nContent-Length: {len(photo)}\r\n"
                           "\r\n").encode() + photo[:1000])

            def one_in_progress():
                return "imgd_uploads_in_progress 1" in server.metrics()

            self.assertTrue(wait_for(one_in_progress))
            r = server.upload(photo, key)
            self.assertEqual(r.status, 503, r.body)
            self.assertEqual(r.header("retry-after"), "1")
            first.sendall(photo[1000:])
            reply = first.recv(65536)
            first.close()
            self.assertTrue(reply.startswith(b"HTTP/1.1 201"), reply[:200])
            self.assertEqual(server.upload(photo, key).status, 200)  # a duplicate, admitted
            self.assertIn("imgd_uploads_in_progress 0", server.metrics())
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()


class HostileRequestTest(unittest.TestCase):
    """Every keyed endpoint without and with a wrong key; ids that try to escape; a flood of
    invalid keys; deletes racing reads. Nothing crashes, nothing leaks between users."""

    @classmethod
    def setUpClass(cls):
        # Readers here run flat out from one address, far above --rate-limit-ip (tested on
        # its own above); the limit would answer for the server.
        cls.server = Server(extra_args=["--rate-limit-ip", "0"], nodes=1).start()
        cls.alice = cls.server.create_user("alice")["apiKey"]
        cls.bob = cls.server.create_user("bob")["apiKey"]
        cls.photo = corpus_bytes("real/real_01_skagen_800x533.jpg")
        cls.image = cls.server.upload(cls.photo, cls.alice).json()["imageId"]

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def keyed_endpoints(self):
        i = self.image
        return [("POST", "/v1/users", b'{"userName":"x","userEmail":"x@example.com"}'),
                ("GET", "/v1/users/me", None), ("POST", "/v1/images", self.photo),
                ("GET", "/v1/images", None), ("GET", f"/v1/images/{i}", None),
                ("PATCH", f"/v1/images/{i}", b'{"imageName":"stolen"}'),
                ("DELETE", f"/v1/images/{i}", None),
                ("PUT", f"/v1/images/{i}/transform", b'{"resizeWidth":10}'),
                ("POST", f"/v1/images/{i}/complete", None),
                ("POST", "/v1/uploads", None)]

    def test_every_keyed_endpoint_refuses_no_key_and_a_wrong_key(self):
        for method, path, body in self.keyed_endpoints():
            for key in (None, "imgd_" + "A" * 43, "not a key at all", "Bearer"):
                r = self.server.request(method, path, body, {"Tus-Resumable": "1.0.0"}, key=key)
                self.assertEqual(r.status, 401, (method, path, key, r.body[:200]))
                self.assertEqual(r.header("content-type"), "application/problem+json")
        # Another user's key: the image is not theirs (never 200, never a change).
        for method, path, body in self.keyed_endpoints()[4:8]:
            r = self.server.request(method, path, body, key=self.bob)
            self.assertIn(r.status, (403, 404), (method, path, r.body[:200]))
        r = self.server.request("GET", f"/v1/images/{self.image}", key=self.alice)
        self.assertEqual(r.status, 200)
        self.assertNotEqual(r.json().get("imageName"), "stolen")

    def test_ids_and_paths_that_try_to_escape_are_404(self):
        for path in ["/v1/images/../../etc/passwd", "/v1/images/..%2f..%2fetc%2fpasswd/content",
                     "/v1/images/%2e%2e/content", "/v1/images/.%00./content",
                     "/v1/images/" + "a" * 5000 + "/content", "/v1/uploads/..%2F..%2Fimgd.db",
                     "/v1/images/originals%2F" + "0" * 64 + "/content",
                     "//v1/images", "/v1/images/%ff%fe/content"]:
            r = self.server.request("GET", path, key=self.alice)
            self.assertIn(r.status, (400, 404), (path, r.status))
            self.assertNotIn(b"root:", r.body)
        self.assertEqual(self.server.request("GET", "/healthz").status, 200)

    def test_oversized_headers_and_urls_get_431_and_the_server_stays_up(self):
        def raw(request):
            with raw_connect(self.server.port) as s:
                s.sendall(request)
                return read_until_closed(s)
        cases = {
            "one huge header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000
                               + b"\r\n\r\n",
            "many headers": b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                            + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 200) for i in range(100))
                            + b"\r\n",
            "huge URL": b"GET /v1/images?cursor=" + b"c" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        }
        for name, request in cases.items():
            with self.subTest(name):
                answer = raw(request)  # the server closes the connection after it
                self.assertTrue(answer.startswith(b"HTTP/1.1 431 "), answer[:80])
        # Just under the limit is fine.
        r = self.server.request("GET", "/healthz", headers={"X-Big": "a" * 15000})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.server.request("GET", "/healthz").status, 200)

    def test_deletes_while_reading_never_serve_a_broken_answer(self):
        import threading
        ids = [self.server.upload(unique_copy(self.photo, n), self.alice).json()["imageId"]
               for n in range(20)]
        results, stop = [], threading.Event()

        def reader():
            conn = self.server.conn()
            while not stop.is_set():
                for i in ids:
                    r = self.server.request("GET", f"/v1/images/{i}/content?w=64", conn=conn)
                    results.append((r.status, r.body[:300]))
            conn.close()

        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            self.assertTrue(wait_for(lambda: len(results) >= 30))  # reads are under way
            for i in ids:
                self.assertEqual(self.server.request("DELETE", f"/v1/images/{i}",
                                                     key=self.alice).status, 204)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        self.assertTrue(results)
        for status, body in results:
            self.assertIn(status, (200, 404), body)
            if status == 200:
                self.assertEqual(body[:2], b"\xff\xd8")
        for i in ids:  # all gone now, here and for their variants
            self.assertEqual(self.server.request("GET", f"/v1/images/{i}/content?w=64").status,
                             404)


class ManySizesTest(unittest.TestCase):
    """A client walking through thousands of distinct variant sizes of one image."""

    def test_ten_thousand_sizes_against_presets_are_refused_and_store_nothing(self):
        server = Server(extra_args=["--only-allowed-sizes", "true", "--allowed-sizes",
                                    "300x,600x"], nodes=1).start()
        try:
            key = server.create_user("u")["apiKey"]
            image = server.upload(corpus_bytes("real/real_01_skagen_800x533.jpg"),
                                  key).json()["imageId"]
            conn = server.conn()
            statuses = {}
            for w in range(1, 10001):
                r = server.request("GET", f"/v1/images/{image}/content?w={w}", conn=conn)
                statuses[r.status] = statuses.get(r.status, 0) + 1
            conn.close()
            self.assertLessEqual(set(statuses), {200, 400, 429})  # 429: the address limit
            self.assertLessEqual(statuses.get(200, 0), 2)  # at most the two presets
            self.assertGreater(statuses.get(400, 0), 1500)  # the burst alone allows 2,000
            server.stop()  # drains background stores
            server.start()
            self.assertLessEqual(len(server.stored_keys("variants/")), 2)
            self.assertEqual(server.request("GET", f"/v1/images/{image}/content?w=300").status,
                             200)
        finally:
            server.cleanup()

    def test_one_off_sizes_are_not_stored_and_a_repeated_size_is(self):
        # No memory cache, so every request makes its variant again.
        server = Server(extra_args=["--variant-cache-bytes", "0", "--rate-limit-ip", "0"],
                        nodes=1).start()
        try:
            key = server.create_user("u")["apiKey"]
            image = server.upload(corpus_bytes("real/real_01_skagen_800x533.jpg"),
                                  key).json()["imageId"]
            conn = server.conn()
            for w in range(100, 400):
                r = server.request("GET", f"/v1/images/{image}/content?w={w}", conn=conn)
                self.assertEqual(r.status, 200, w)
            again = server.request("GET", f"/v1/images/{image}/content?w=150", conn=conn)
            self.assertEqual(again.status, 200)
            conn.close()
            self.assertIn("imgd_variant_store_deferred_total 300", server.metrics())
            server.stop()
            server.start()
            stored = server.stored_keys("variants/")
            self.assertEqual(len(stored), 1, stored)  # only the size asked for twice
            self.assertIn("w150", stored[0])
        finally:
            server.cleanup()


    def test_thousands_of_one_off_sizes_keep_memory_and_disk_bounded(self):
        # Every size distinct (no presets, no rate limit): the memory cache (4 MB here) and
        # the set of sizes seen once are bounded, and nothing reaches the disk.
        server = Server(extra_args=["--variant-cache-bytes", str(4 << 20), "--rate-limit-ip",
                                    "0", "--rate-limit-key", "0"], nodes=1).start()
        try:
            key = server.create_user("u")["apiKey"]
            image = server.upload(corpus_bytes("real/real_01_skagen_800x533.jpg"),
                                  key).json()["imageId"]
            conn = server.conn()
            rss = []
            for i in range(2000):
                w, h = 200 + i % 400, 100 + (i // 400) * 80  # 2,000 distinct pairs
                r = server.request("GET", f"/v1/images/{image}/content?w={w}&h={h}&q=95",
                                   conn=conn)
                self.assertEqual(r.status, 200, (w, h))
                if i in (499, 1999):
                    rss.append(server.rss_kb())
            conn.close()
            # Measured by the kernel: after the first 500 sizes filled the cache, 1,500 more
            # distinct ones (~50 MB of variants at q95, were they all kept) add no more than
            # allocator noise.
            self.assertLess(rss[1] - rss[0], 32 * 1024, rss)
            self.assertIn("imgd_variant_store_deferred_total 2000", server.metrics())
            server.stop()
            server.start()
            self.assertEqual(server.stored_keys("variants/"), [])
        finally:
            server.cleanup()


class InvalidKeyFloodTest(unittest.TestCase):
    def test_a_flood_of_invalid_keys_gets_401s_then_429s_and_the_server_stays_up(self):
        # A low per-address rate (20/s, bursts of 40), so even a slow client (a sanitizer
        # build) outruns it; its own server so no other test shares the budget.
        server = Server(extra_args=["--rate-limit-ip", "20"], nodes=1).start()
        try:
            conn = server.conn()
            statuses = []
            for n in range(2000):
                r = server.request("GET", "/v1/users/me", key=f"imgd_bogus{n:06d}", conn=conn)
                statuses.append(r.status)
            conn.close()
            self.assertEqual(set(statuses[:30]), {401})  # within the burst: judged, refused
            self.assertEqual(set(statuses), {401, 429})  # then slowed down, never served
            self.assertGreater(statuses.count(429), 1000)
            self.assertIn('imgd_rate_limited_total{limit="client_requests"}', server.metrics())
            self.assertEqual(server.request("GET", "/healthz").status, 200)
        finally:
            server.cleanup()


def unique_copy(data, n):
    """The same JPEG with a COM segment naming n: distinct bytes, same picture."""
    tag = f"copy-{n}".encode()
    return data[:2] + b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag + data[2:]
