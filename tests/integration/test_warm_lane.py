"""The warm lane (src/http/fast_lane.h): a cached variant or a 304 answered on the network
thread before routing. Its answers must be byte for byte those of the general path (status,
every header in order, body), apart from the request id; it must decline what it cannot
answer exactly (ranges, HEAD, bad parameters), still pass admission, and be possible to turn
off. imgd_http_warm_lane_answers_total tells which path answered."""
import re
import socket
import subprocess
import tempfile
import unittest

from harness import IMGD_BIN, Server, ServerTest, corpus_bytes

PHOTO = "real/real_01_skagen_800x533.jpg"
OTHER = "real/real_02_honeybee_1620x1280.jpg"
LARGE = "real/real_03_storm_1920x1280.jpg"


def _read_answer(s, data, method):
    """One response off socket s (data: bytes already read): (head lines, body, rest)."""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    head_lines = head.decode().split("\r\n")
    length = 0
    for line in head_lines[1:]:
        name, value = line.split(": ", 1)
        if name.lower() == "content-length" and method != "HEAD":
            length = int(value)
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk
        body += chunk
    return head_lines, body[:length], body[length:]


def raw_get(port, target, headers=None, method="GET", lane_count=None):
    """One request on its own connection: (status line + header lines as sent, body). With
    lane_count (a list), /metrics is then asked on the same connection, so it is read after
    imgd recorded the request (a connection's requests are served in turn), and the warm
    lane's count is appended to the list."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head_lines, body, rest = _read_answer(s, b"", method)
        if lane_count is not None:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            _, text, _ = _read_answer(s, rest, "GET")
            m = re.search(rb"^imgd_http_warm_lane_answers_total (\S+)$", text, re.M)
            lane_count.append(float(m.group(1)) if m else 0.0)
    return head_lines, body


def without_request_id(head_lines):
    return [line for line in head_lines if not line.lower().startswith("x-request-id:")]


class WarmLaneTest(ServerTest):
    nodes = 1  # the lane answers from this process's memory

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key = cls.server.create_user("warm")["apiKey"]
        r = cls.server.upload(corpus_bytes(PHOTO), cls.key)
        assert r.status == 201, r.body
        cls.image = r.json()
        r = cls.server.upload(corpus_bytes(OTHER), cls.key)
        assert r.status == 201, r.body
        cls.other = r.json()
        r = cls.server.upload(corpus_bytes(LARGE), cls.key)
        assert r.status == 201, r.body
        cls.large = r.json()

    def lane_answers(self):
        m = re.search(r"^imgd_http_warm_lane_answers_total (\S+)$", self.server.metrics(), re.M)
        return float(m.group(1)) if m else 0.0

    def general_then_lane(self, target, headers=None):
        """The first read goes the general way (nothing cached yet), the second through the
        lane; returns both answers."""
        before = self.lane_answers()
        counts = []
        first = raw_get(self.server.port, target, headers, lane_count=counts)
        self.assertEqual(counts[-1], before, "the cold read was answered by the lane")
        second = raw_get(self.server.port, target, headers, lane_count=counts)
        self.assertEqual(counts[-1], before + 1, "the warm read took the general path")
        return first, second

    def assertSameAnswer(self, general, lane):
        self.assertEqual(without_request_id(general[0]), without_request_id(lane[0]))
        self.assertEqual(general[1], lane[1])
        ids = [[line for line in a[0] if line.startswith("X-Request-Id: ")] for a in (general, lane)]
        self.assertEqual([len(i) for i in ids], [1, 1])
        self.assertNotEqual(ids[0], ids[1])

    def test_cached_variant_is_answered_as_the_general_path_does(self):
        target = f"/v1/images/{self.image['imageId']}/content?w=160"
        general, lane = self.general_then_lane(target)
        self.assertEqual(general[0][0], "HTTP/1.1 200 OK")
        self.assertTrue(lane[1].startswith(b"\xff\xd8"))
        self.assertSameAnswer(general, lane)

    def test_negotiated_format_varies_by_accept_on_both_paths(self):
        target = f"/v1/images/{self.image['imageId']}/content?w=140&format=auto"
        general, lane = self.general_then_lane(target, {"Accept": "image/webp,*/*"})
        self.assertIn("Vary: Accept", general[0])
        self.assertIn("Content-Type: image/webp", general[0])
        self.assertSameAnswer(general, lane)

    def test_not_modified_is_answered_as_the_general_path_does(self):
        # The owner's transform call makes the variant and tells its ETag without a content
        # read, so the first conditional read below is the image's first (general path).
        r = self.server.request("PUT", f"/v1/images/{self.other['imageId']}/transform",
                                '{"resizeWidth": 150}', {"Content-Type": "application/json"},
                                key=self.key)
        self.assertEqual(r.status, 200, r.body)
        etag = r.header("etag")
        target = f"/v1/images/{self.other['imageId']}/content?w=150"
        general, lane = self.general_then_lane(target, {"If-None-Match": etag})
        self.assertEqual(general[0][0], "HTTP/1.1 304 Not Modified")
        self.assertEqual(general[1], b"")
        # What updates a stored copy (surrogate keys included), not the representation's
        # other metadata (RFC 9110 15.4.5).
        names = sorted(line.split(":")[0].lower() for line in general[0][1:] if line)
        self.assertEqual(names, ["cache-control", "etag", "surrogate-key", "x-request-id", "xkey"])
        self.assertSameAnswer(general, lane)

    def test_large_variant_is_sent_from_its_file_unchanged(self):
        # 16 KB or more (over 64 KB here): once its sealed file copy is attached (made on the
        # blocking pool after the first read), the lane sends it with sendfile.
        target = f"/v1/images/{self.large['imageId']}/content?w=1800&q=95"
        general = raw_get(self.server.port, target)
        self.assertEqual(general[0][0], "HTTP/1.1 200 OK")
        self.assertGreater(len(general[1]), 64 * 1024)
        for _ in range(500):  # each round is a request; the attach is one pool task
            if re.search(r"^imgd_variant_cache_files [1-9]", self.server.metrics(), re.M):
                break
        else:
            self.fail("no file copy was attached")
        before = self.lane_answers()
        counts = []
        for _ in range(3):  # bodies compared whole
            lane = raw_get(self.server.port, target, lane_count=counts)
            self.assertSameAnswer(general, lane)
        self.assertEqual(counts[-1], before + 3)

    def test_what_the_lane_declines_still_gets_its_answer(self):
        image_id = self.image["imageId"]
        target = f"/v1/images/{image_id}/content?w=120"
        raw_get(self.server.port, target)  # cached now
        before = self.lane_answers()
        head, body = raw_get(self.server.port, target, {"Range": "bytes=0-9"})
        self.assertEqual(head[0], "HTTP/1.1 206 Partial Content")
        self.assertEqual(len(body), 10)
        head, body = raw_get(self.server.port, target, method="HEAD")
        self.assertEqual(head[0], "HTTP/1.1 200 OK")
        self.assertEqual(body, b"")
        for bad, status in ((f"/v1/images/{image_id}/content?w=abc", 400),
                            (f"/v1/images/{image_id}/content?w=120&w=120&colour=red", 400),
                            (f"/v1/images/{image_id}/content?w=120&sig=x", 403),
                            (f"/v1/images/{image_id}/content?w=%31%32%30", 200)):
            r = self.server.request("GET", bad)
            self.assertEqual(r.status, status, (bad, r.body[:300]))
            if status != 200:
                self.assertProblem(r, status)
        counts = []
        raw_get(self.server.port, "/healthz", lane_count=counts)  # after all of the above
        self.assertEqual(counts[-1], before)

    def test_headers_outside_the_lanes_subset_get_the_same_answer(self):
        # The lane reads only a strict subset of HTTP/1.1 itself (http/lane_request.h); a
        # header outside it (obs-text, a folded line, HTTP/1.0) is read by Beast and goes the
        # general way, with the same answer.
        target = f"/v1/images/{self.image['imageId']}/content?w=130"
        lane_head, lane_body = raw_get(self.server.port, target)  # cached now
        before = self.lane_answers()
        for extra in (b"User-Agent: caf\xc3\xa9\r\n", b"X-Note: a\r\n  folded\r\n"):
            with socket.create_connection(("127.0.0.1", self.server.port), timeout=60) as s:
                s.sendall(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra +
                          b"\r\n")
                head, body, _ = _read_answer(s, b"", "GET")
            self.assertEqual(without_request_id(head), without_request_id(lane_head))
            self.assertEqual(body, lane_body)
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=60) as s:
            s.sendall(b"GET " + target.encode() + b" HTTP/1.0\r\n\r\n")
            head, body, _ = _read_answer(s, b"", "GET")
        self.assertEqual((head[0], body), ("HTTP/1.1 200 OK", lane_body))
        counts = []
        raw_get(self.server.port, "/healthz", lane_count=counts)
        self.assertEqual(counts[-1], before)

    def test_pipelined_requests_are_answered_in_turn(self):
        # Three requests in one write: the lane takes the first header only, then the next.
        target = f"/v1/images/{self.image['imageId']}/content?w=110"
        _, body = raw_get(self.server.port, target)  # cached now
        one = f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=60) as s:
            s.sendall(one + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + one)
            rest = b""
            answers = []
            for _ in range(3):
                head, got, rest = _read_answer(s, rest, "GET")
                answers.append((head[0], len(got)))
        self.assertEqual(answers, [("HTTP/1.1 200 OK", len(body)), ("HTTP/1.1 200 OK", answers[1][1]),
                                   ("HTTP/1.1 200 OK", len(body))])


class WarmLaneLimitsTest(unittest.TestCase):
    def test_lane_answers_are_logged_like_any_other(self):
        server = Server(nodes=1).start()
        try:
            key = server.create_user("logged")["apiKey"]
            image = server.upload(corpus_bytes(PHOTO), key).json()
            target = f"/v1/images/{image['imageId']}/content?w=100"
            raw_get(server.port, target)
            counts = []
            head, _ = raw_get(server.port, target, lane_count=counts)
            request_id = [l for l in head if l.startswith("X-Request-Id: ")][0][len("X-Request-Id: "):]
            self.assertEqual(counts, [1.0])
        finally:
            server.stop()  # a drained exit writes out every queued log line
        try:
            with open(server.stderr_path) as f:
                lines = [l for l in f.read().splitlines() if request_id in l]
            self.assertEqual(len(lines), 1)
            self.assertIn('"route":"/v1/images/{imageId}/content"', lines[0])
            self.assertIn('"status":200', lines[0])
            self.assertIn('"traceId":"', lines[0])
        finally:
            server.cleanup()

    def test_turned_off_every_read_goes_the_general_way(self):
        server = Server(extra_args=["--warm-lane", "false"], nodes=1).start()
        try:
            key = server.create_user("cold")["apiKey"]
            image = server.upload(corpus_bytes(PHOTO), key).json()
            target = f"/v1/images/{image['imageId']}/content?w=100"
            counts = []
            answers = [raw_get(server.port, target, lane_count=counts) for _ in range(3)]
            self.assertEqual({a[0][0] for a in answers}, {"HTTP/1.1 200 OK"})
            self.assertEqual(counts, [0.0, 0.0, 0.0])
        finally:
            server.cleanup()

    def test_admission_refuses_before_the_lane(self):
        # A per-address limit this low admits the bucket's one token, then refuses (a token
        # comes back every 1000 s).
        server = Server(extra_args=["--rate-limit-ip", "0.001"], nodes=1).start()
        try:
            target = "/v1/images/0190c0de-0000-7000-8000-000000000000/content?w=100"
            answers = [raw_get(server.port, target) for _ in range(3)]
            self.assertEqual(answers[0][0][0], "HTTP/1.1 404 Not Found")
            for head, body in answers[1:]:
                self.assertEqual(head[0], "HTTP/1.1 429 Too Many Requests", body[:300])
                self.assertIn(b"/problems/", body)
        finally:
            server.cleanup()

    def test_cache_control_that_could_split_a_head_is_refused_at_start(self):
        # The lane writes the configured Cache-Control into every head unscanned.
        with tempfile.TemporaryDirectory() as data:
            for value in ("public\r\nX-Injected: 1", "public\nmax-age=1", "a\x01b"):
                out = subprocess.run([IMGD_BIN, "serve", "--listen", "127.0.0.1:0", "--data",
                                      data, "--cache-control", value],
                                     capture_output=True, text=True, timeout=60)
                self.assertNotEqual(out.returncode, 0, value)
                self.assertIn("--cache-control", out.stderr)
                self.assertIn("control characters", out.stderr)


if __name__ == "__main__":
    unittest.main()
