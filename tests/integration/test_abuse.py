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
            codes = [server.request("GET", "/healthz").status for _ in range(3)]
            self.assertEqual(codes[:2], [200, 200])
            self.assertEqual(codes[2], 429)
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
