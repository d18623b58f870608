"""Starts the real imgd binary on a free loopback port and talks HTTP to it."""
import hashlib
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

IMGD_BIN = os.environ.get("IMGD_BIN", os.path.join(os.path.dirname(__file__), "../../build/imgd"))
CORPUS = os.environ.get("IMGD_CORPUS", os.path.join(os.path.dirname(__file__), "../corpus"))
ADMIN_KEY = "test-admin-" + uuid.uuid4().hex


def manifest():
    rows = []
    with open(os.path.join(CORPUS, "MANIFEST.tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    return rows


def corpus_bytes(path):
    with open(os.path.join(CORPUS, path), "rb") as f:
        return f.read()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())


class Server:
    """One imgd process with its own data directory."""

    def __init__(self, data_dir=None, extra_args=(), env=None):
        self.tmp = None
        if data_dir is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="imgd-it-")
            data_dir = self.tmp.name
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.env = dict(os.environ, IMGD_ADMIN_KEY=ADMIN_KEY, **(env or {}))
        self.proc = None
        self.port = None
        self.stderr_path = os.path.join(data_dir, "stderr.log")

    def start(self):
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [IMGD_BIN, "serve", "--listen", "127.0.0.1:0", "--data", self.data_dir]
            + self.extra_args,
            stdout=subprocess.PIPE, stderr=self.stderr, env=self.env)
        # The ready line tells the port; reading it is the synchronisation.
        for line in self.proc.stdout:
            line = line.decode()
            if line.startswith("imgd listening on http://"):
                self.port = int(line.strip().rsplit(":", 1)[1])
                break
        if self.port is None:
            raise RuntimeError("imgd did not start: " + open(self.stderr_path).read()[-2000:])
        # Keep draining stdout so the child never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)
        code = self.proc.returncode if self.proc else None
        if self.proc:
            self.stderr.close()
            self.proc.stdout.close()
        self.proc = None
        return code

    def cleanup(self):
        self.stop()
        if self.tmp:
            self.tmp.cleanup()

    def pid(self):
        return self.proc.pid

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def hwm_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    # --- HTTP ---
    def conn(self, timeout=120):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, key=None, conn=None):
        headers = dict(headers or {})
        if key is not None:
            headers["Authorization"] = "Bearer " + key
        own = conn is None
        c = conn or self.conn()
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            if own:
                c.close()

    def create_user(self, name="user"):
        r = self.request("POST", "/v1/users",
                         json.dumps({"userName": name, "userEmail": name + "@example.com"}),
                         {"Content-Type": "application/json"}, key=ADMIN_KEY)
        assert r.status == 201, (r.status, r.body)
        return r.json()

    def upload(self, data, key, query="", content_type="image/jpeg", conn=None):
        return self.request("POST", "/v1/images" + query, data, {"Content-Type": content_type},
                            key=key, conn=conn)

    def upload_multipart(self, data, key, fields=None, filename="photo.jpg", query=""):
        boundary = "imgd" + uuid.uuid4().hex
        parts = []
        for name, value in (fields or {}).items():
            parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                         .encode() + value.encode() + b"\r\n")
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                     f"filename=\"{filename}\"\r\nContent-Type: image/jpeg\r\n\r\n".encode()
                     + data + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        return self.request("POST", "/v1/images" + query, b"".join(parts),
                            {"Content-Type": "multipart/form-data; boundary=" + boundary}, key=key)

    # --- what is on disk ---
    def blob_files(self):
        root = os.path.join(self.data_dir, "blobs", "originals")
        out = []
        for d, _, files in os.walk(root):
            out += [os.path.join(d, f) for f in files]
        return out

    def temp_files(self):
        root = os.path.join(self.data_dir, "blobs", "tmp")
        return os.listdir(root) if os.path.isdir(root) else []

    def db(self):
        return sqlite3.connect(os.path.join(self.data_dir, "imgd.db"), timeout=30)

    def image_rows(self):
        with self.db() as db:
            return db.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    def image_rows_of(self, key):
        """How many images the owner of key has (pending ones included)."""
        return len(self.request("GET", "/v1/images?limit=1000", key=key).json()["images"])

    def metrics(self):
        return self.request("GET", "/metrics").body.decode()

    def gc(self, grace=0):
        return subprocess.run([IMGD_BIN, "gc", "--data", self.data_dir, "--grace", str(grace)],
                              capture_output=True, text=True, env=self.env, timeout=120)


class ServerTest(unittest.TestCase):
    """One server for the whole class."""
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = Server(extra_args=cls.server_args).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def assertProblem(self, r, status, slug=None):
        self.assertEqual(r.status, status, r.body[:500])
        self.assertEqual(r.header("content-type"), "application/problem+json")
        p = r.json()
        for k in ("type", "title", "status", "detail", "requestId"):
            self.assertIn(k, p)
        self.assertEqual(p["status"], status)
        self.assertEqual(p["requestId"], r.header("x-request-id"))
        if slug:
            self.assertEqual(p["type"], "/problems/" + slug)
        return p
