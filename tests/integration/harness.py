"""Starts the real imgd binary on a free loopback port and talks HTTP to it."""
import atexit
import hashlib
import itertools
import http.client
import json
import os
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

IMGD_BIN = os.environ.get("IMGD_BIN", os.path.join(os.path.dirname(__file__), "../../build/imgd"))
IMGD_CQL_BIN = os.environ.get("IMGD_CQL_BIN", os.path.join(os.path.dirname(IMGD_BIN), "tests",
                                                           "imgd-cql"))
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


# IMGD_IT_BACKEND=pg_s3 runs every Server on PostgreSQL + S3 (real engines, started once per
# test process) with two imgd nodes sharing them; requests alternate between the nodes.
# IMGD_IT_BACKEND=cassandra_s3 does the same on Cassandra (a keyspace per Server) + S3.
BACKEND = os.environ.get("IMGD_IT_BACKEND", "embedded")
REMOTE = BACKEND in ("pg_s3", "cassandra_s3")
CASSANDRA = BACKEND == "cassandra_s3"
# The store-call metrics' name of the remote metadata database.
META_STORE = "cassandra" if CASSANDRA else "postgres"
_ENGINES = None


def shared_engines():
    global _ENGINES
    if _ENGINES is None:
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "engines"))
        from engines import Engines
        _ENGINES = Engines(cassandra=CASSANDRA, postgres=not CASSANDRA).start()
        atexit.register(_ENGINES.stop)
    return _ENGINES


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One imgd process."""

    def __init__(self, data_dir, args, env, port=0):
        self.data_dir = data_dir
        self.args = args
        self.env = env
        self.listen_port = port
        self.port = None
        self.proc = None
        self.stderr_path = os.path.join(data_dir, "stderr.log")

    def start(self):
        os.makedirs(self.data_dir, exist_ok=True)
        self.stderr = open(self.stderr_path, "ab")
        # IMGD_WRAPPER runs imgd under a tool (bench/warm.py counts instructions in callgrind).
        self.proc = subprocess.Popen(
            shlex.split(os.environ.get("IMGD_WRAPPER", "")) + [IMGD_BIN, "serve", "--listen", f"127.0.0.1:{self.listen_port}", "--data",
             self.data_dir] + self.args,
            stdout=subprocess.PIPE, stderr=self.stderr, env=self.env)
        # The ready line tells the port; reading it is the synchronisation.
        self.port = None
        for line in self.proc.stdout:
            line = line.decode()
            if line.startswith(("imgd listening on http://", "imgd listening on https://")):
                self.port = int(line.strip().rsplit(":", 1)[1])
                break
        if self.port is None:
            raise RuntimeError("imgd did not start: " + open(self.stderr_path).read()[-2000:])
        # Keep draining stdout so the child never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

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


class Server:
    """imgd with its own stores: one process on the embedded stores, or (REMOTE) nodes
    processes sharing a fresh PostgreSQL database and S3 prefix."""

    def __init__(self, data_dir=None, extra_args=(), env=None, nodes=None):
        self.tmp = None
        if data_dir is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="imgd-it-")
            data_dir = self.tmp.name
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        # Overload shedding off unless a test turns it on with the flag (test_overload): on a
        # busy test machine a queue delay over the default 20 ms is common, and the suites
        # assert exact answers.
        self.env = dict(os.environ, IMGD_ADMIN_KEY=ADMIN_KEY, IMGD_SHED_QUEUE_DELAY_MS="0",
                        **(env or {}))
        self.remote = REMOTE and "--meta" not in self.extra_args
        self.meta_url = self.blob_url = None
        if self.remote:
            engines = shared_engines()
            name = "it_" + uuid.uuid4().hex[:12]
            if CASSANDRA:
                # imgd's first start creates the keyspace (one node first: see start()).
                self.meta_url = engines.cassandra.url.replace("/imgd?", f"/{name}?")
            else:
                subprocess.run(["psql", engines.pg.url, "-Xqc", f"CREATE DATABASE {name}"],
                               check=True, capture_output=True, timeout=60)
                self.meta_url = engines.pg.url.rsplit("/", 1)[0] + "/" + name
            # The suites exercise imgd's own pre-signed URLs; the bucket's are covered by
            # test_distributed.
            self.blob_url = engines.s3.url + "&prefix=" + name + "&presign=imgd"
            self.extra_args += ["--meta", self.meta_url, "--blob", self.blob_url]
            self.env.update(engines.env())
        count = nodes or (2 if self.remote else 1)
        if count == 1:
            self.nodes = [Node(data_dir, self.extra_args, self.env)]
        else:
            # Fixed ports (they survive restarts) and one public base URL, as behind a
            # load balancer.
            ports = [free_port() for _ in range(count)]
            args = self.extra_args + ["--public-base-url", f"http://127.0.0.1:{ports[0]}"]
            self.nodes = [Node(data_dir if i == 0 else os.path.join(data_dir, f"node-{i}"), args,
                               self.env, ports[i]) for i in range(count)]
        self.stderr_path = self.nodes[0].stderr_path
        self._turn = itertools.count()

    @property
    def proc(self):
        return self.nodes[0].proc

    @property
    def port(self):
        return self.nodes[0].port

    def start(self):
        for n in self.nodes:
            n.start()
        return self

    def stop(self, sig=signal.SIGTERM, timeout=60):
        codes = [n.stop(sig, timeout) for n in self.nodes]
        return codes[0]

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
        """A connection to the next node in turn."""
        node = self.nodes[next(self._turn) % len(self.nodes)]
        return http.client.HTTPConnection("127.0.0.1", node.port, timeout=timeout)

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
    def _s3(self):
        from stores import S3Peek
        return S3Peek(self.blob_url, self.env["IMGD_S3_ACCESS_KEY"],
                      self.env["IMGD_S3_SECRET_KEY"])

    def blob_files(self):
        if self.remote:
            return self._s3().keys("originals/")
        root = os.path.join(self.data_dir, "blobs", "originals")
        out = []
        for d, _, files in os.walk(root):
            out += [os.path.join(d, f) for f in files]
        return out

    def stored_keys(self, namespace):
        """Names of the committed objects of a blob-store namespace ("variants/")."""
        if self.remote:
            return self._s3().keys(namespace)
        root = os.path.join(self.data_dir, "blobs", namespace.rstrip("/"))
        return [f for _, _, fs in os.walk(root) for f in fs]

    def temp_files(self):
        """Uploads in progress or left behind (staged files; S3 staging objects and
        multipart uploads)."""
        if self.remote:
            s3 = self._s3()
            return s3.keys("staging/") + s3.uploads("staging/")
        root = os.path.join(self.data_dir, "blobs", "tmp")
        return os.listdir(root) if os.path.isdir(root) else []

    def db(self):
        """The SQL database (not for Cassandra: use images() and blobs())."""
        if self.remote:
            from stores import PgShim
            return PgShim(self.meta_url)
        return sqlite3.connect(os.path.join(self.data_dir, "imgd.db"), timeout=30)

    def cql(self, statement):
        """Rows of a CQL statement ({ks}: this server's keyspace), as lists of strings."""
        out = subprocess.run([IMGD_CQL_BIN, self.meta_url, statement], capture_output=True,
                             text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        return [line.split("\t") for line in out.stdout.splitlines()]

    def images(self):
        """Every image record (pending ones too) as (id, sha256, status)."""
        if self.remote and CASSANDRA:
            return [tuple(r) for r in self.cql("SELECT id, sha256, status FROM {ks}.images")]
        with self.db() as db:
            return [tuple(r) for r in
                    db.execute("SELECT id, COALESCE(sha256, ''), status FROM images")]

    def blobs(self):
        """Every blob record: sha256 -> reference count."""
        if self.remote and CASSANDRA:
            refs = {}
            for sha, _ in self.cql("SELECT sha256, image_id FROM {ks}.blob_refs"):
                refs[sha] = refs.get(sha, 0) + 1
            return {r[0]: refs.get(r[0], 0) for r in self.cql("SELECT sha256 FROM {ks}.blobs")}
        with self.db() as db:
            return {r[0]: r[1] for r in db.execute("SELECT sha256, refcount FROM blobs")}

    def image_rows(self):
        return len(self.images())

    def image_rows_of(self, key):
        """How many images the owner of key has (pending ones included)."""
        return len(self.request("GET", "/v1/images?limit=1000", key=key).json()["images"])

    def metrics(self):
        """/metrics; with several nodes, each series summed over them."""
        if len(self.nodes) == 1:
            return self.request("GET", "/metrics").body.decode()
        totals = {}
        for n in self.nodes:
            c = http.client.HTTPConnection("127.0.0.1", n.port, timeout=60)
            c.request("GET", "/metrics")
            for line in c.getresponse().read().decode().splitlines():
                if line.startswith("#") or " " not in line:
                    continue
                series, value = line.rsplit(" ", 1)
                totals[series] = totals.get(series, 0.0) + float(value)
            c.close()
        return "".join(f"{k} {v:.17g}\n" for k, v in totals.items())

    def gc(self, grace=0):
        stores = ["--meta", self.meta_url, "--blob", self.blob_url] if self.remote else []
        return subprocess.run([IMGD_BIN, "gc", "--data", self.data_dir, "--grace", str(grace)]
                              + stores, capture_output=True, text=True, env=self.env, timeout=120)


class ServerTest(unittest.TestCase):
    """One server for the whole class (nodes: None = the backend's default)."""
    server_args = ()
    nodes = None

    @classmethod
    def setUpClass(cls):
        cls.server = Server(extra_args=cls.server_args, nodes=cls.nodes).start()

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
