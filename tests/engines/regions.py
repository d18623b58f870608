"""Three regions on one machine, for the delivery simulation (tests/integration/test_regions.py
and bench/regions.py). Every region is a group of processes on its own loopback range, and
every path between regions goes through a Toxiproxy link that adds the one-way latency
below (the kernel here has no netem):

  region A 127.0.1.x  origin: imgd (a.1), Cassandra dc1 (a.2), edge A (a.3); S3 (Swift)
  region B 127.0.2.x  imgd (b.1) on Cassandra dc2 (b.2, the keyspace replicated to it), edge B
  region C 127.0.3.x  edge C, fetching from the origin in A

  client <-> its region's edge   5 ms      A <-> B  40 ms
  A <-> C                       90 ms      B <-> C 120 ms

Links: the clients' (5 ms each), imgd B's to S3 (40), edge C's to imgd A (90), and each imgd's
purge links to the other regions' edges (A->B 40, A->C 90, B->A 40, B->C 120), which
cut_purges() cuts to take an edge off imgd's reach. Cassandra's own replication between dc1
and dc2 is not delayed (its gossip binds one address per node).
"""
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

from edges import PURGE_TOKEN, Edge, Toxiproxy
from engines import Cassandra, Process, Swift, free_port, wait_until

NET = {"A": "127.0.1", "B": "127.0.2", "C": "127.0.3"}
ONE_WAY_MS = {("A", "B"): 40, ("A", "C"): 90, ("B", "C"): 120}
CLIENT_MS = 5


def one_way(x, y):
    return ONE_WAY_MS.get((x, y)) or ONE_WAY_MS.get((y, x))


class Imgd:
    """One imgd node on a given address (the harness's nodes all bind 127.0.0.1)."""

    def __init__(self, binary, root, host, port, args, env):
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.host, self.port = host, port
        # No overload shedding: the topology's checks count every refusal as an error, and a
        # shared test machine's queue delays are not this test's subject (test_overload's).
        self.args = [binary, "serve", "--listen", f"{host}:{self.port}", "--data",
                     os.path.join(root, "data"), "--shed-queue-delay-ms", "0"] + args
        self.env = env
        self.proc = None

    def start(self):
        log = os.path.join(self.root, "imgd.log")
        self.proc = Process(self.args, log, env=self.env)
        wait_until(lambda: self.ready() or not self.proc.alive(), 120, "imgd", log)
        if not self.proc.alive():
            raise RuntimeError("imgd exited: " + open(log).read()[-3000:])
        return self

    def ready(self):
        try:
            c = http.client.HTTPConnection(self.host, self.port, timeout=2)
            c.request("GET", "/readyz")
            ok = c.getresponse().status == 200
            c.close()
            return ok
        except OSError:
            return False

    def kill(self):
        if self.proc:
            self.proc.stop(sig=9)
            self.proc = None

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None


class Regions:
    def __init__(self, imgd_bin, cql_bin, admin_key, root=None):
        self.own_root = root is None
        self.root = root or tempfile.mkdtemp(prefix="imgd-regions-")
        os.chmod(self.root, 0o755)
        self.imgd_bin, self.cql_bin, self.admin_key = imgd_bin, cql_bin, admin_key
        self.links = {}
        self.started = []  # stopped in reverse
        self.edges, self.origins, self.client = {}, {}, {}
        self.timings = {}

    def addr(self, region, host):
        return f"{NET[region]}.{host}"

    def link(self, name, region, upstream, ms):
        """A Toxiproxy link listening in region towards upstream (HOST:PORT)."""
        listen = f"{self.addr(region, 10 + len(self.links))}:{free_port()}"
        self.tox.proxy(name, listen, upstream)
        self.tox.latency(name, ms)
        self.links[name] = listen
        return listen

    def _start(self, what):
        self.started.append(what)
        return what.start()

    def start(self):
        t0 = time.monotonic()
        try:
            self._start_all()
        except BaseException:
            self.stop()
            raise
        self.timings["start_s"] = time.monotonic() - t0
        return self

    def _start_all(self):
        self.tox = self._start(Toxiproxy(self.root))
        self.s3 = self._start(Swift(self.root))
        a_db, b_db = self.addr("A", 2), self.addr("B", 2)
        self.dc1 = self._start(Cassandra(self.root, a_db, "dc1", name="dc1", auth=False))
        self.dc2 = self._start(Cassandra(self.root, b_db, "dc2", seed=a_db, name="dc2",
                                         storage_port=self.dc1.storage_port,
                                         native_port=self.dc1.native_port, auth=False))
        port = self.dc1.native_port
        wait_until(lambda: "dc2" in self.cql(f"cassandra://{a_db}:{port}/system?dc=dc1",
                                            "SELECT data_center FROM system.peers"),
                   60, "dc1 sees dc2")
        edge_port = {r: free_port() for r in NET}
        edge_at = {r: f"{self.addr(r, 3)}:{edge_port[r]}" for r in NET}
        origin_port = {r: free_port() for r in ("A", "B")}
        # Links first: the imgd nodes and edges are configured with their addresses.
        s3_host = self.s3.endpoint.split("//")[1]
        s3_from_b = self.link("s3_from_b", "B", s3_host, one_way("A", "B"))
        c_to_origin = self.link("c_to_origin", "C", f"{self.addr('A', 1)}:{origin_port['A']}",
                                one_way("A", "C"))
        purge = {}
        for src in ("A", "B"):
            for dst in NET:
                purge[(src, dst)] = (edge_at[dst] if src == dst else
                                     self.link(f"purge_{src}_{dst}".lower(), src, edge_at[dst],
                                               one_way(src, dst)))
        for r in NET:
            self.client[r] = self.link(f"client_{r}".lower(), r, edge_at[r], CLIENT_MS)

        env = dict(os.environ, IMGD_ADMIN_KEY=self.admin_key,
                   IMGD_S3_ACCESS_KEY=self.s3.access_key, IMGD_S3_SECRET_KEY=self.s3.secret_key,
                   IMGD_EDGE_PURGE_TOKEN=PURGE_TOKEN)
        hosts = f"{a_db},{b_db}:{port}"
        for r, dc, s3 in (("A", "dc1", self.s3.endpoint), ("B", "dc2", "http://" + s3_from_b)):
            meta = f"cassandra://{hosts}/sim?dc={dc}&replication=dc1:1,dc2:1&timeout_ms=3000"
            blob = self.s3.url.replace(self.s3.endpoint, s3) + "&prefix=sim"
            purge_urls = ",".join(f"{d.lower()}=http://{purge[(r, d)]}" for d in NET)
            node = Imgd(self.imgd_bin, os.path.join(self.root, f"imgd-{r}"), self.addr(r, 1),
                        origin_port[r],
                        ["--meta", meta, "--blob", blob, "--edge-purge-urls", purge_urls,
                         "--public-base-url", f"http://{self.client['A']}"], env)
            self.origins[r] = self._start(node)  # A first: it creates the keyspace
        origin_of = {"A": f"{self.addr('A', 1)}:{origin_port['A']}",
                     "B": f"{self.addr('B', 1)}:{origin_port['B']}", "C": c_to_origin}
        for r in NET:
            self.edges[r] = self._start(Edge(self.root, origin_of[r], host=self.addr(r, 3),
                                             port=edge_port[r], name=f"edge-{r}"))

    def cql(self, url, statement):
        out = subprocess.run([self.cql_bin, url, statement], capture_output=True, text=True,
                             timeout=60)
        return out.stdout if out.returncode == 0 else ""

    def cut_purges(self, region, on):
        """Takes region's edge off (on=False) or back onto every imgd's purge path."""
        for src in ("A", "B"):
            if src != region:
                self.tox.enable(f"purge_{src}_{region}".lower(), on)

    def kill_origins(self):
        for node in self.origins.values():
            node.kill()

    def stop(self):
        for what in reversed(self.started):
            try:
                what.stop()
            except Exception:  # keep stopping the rest
                pass
        self.started = []
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)


class Client:
    """A region's viewers: HTTP/1.1 keep-alive connections to the region's edge link, one per
    thread."""

    def __init__(self, address):
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.local = threading.local()
        self.opened = []

    def close(self):
        for conn in self.opened:
            conn.close()

    def request(self, method, path, body=None, headers=None):
        """(status, lower-case headers, body, seconds)."""
        for attempt in (1, 2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(self.host, self.port,
                                                                    timeout=60)
                self.opened.append(conn)
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers or {})
                r = conn.getresponse()
                data = r.read()
                took = time.perf_counter() - t0
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self.local.conn = None
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data, took
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise

    def json(self, method, path, doc, key):
        s, h, b, t = self.request(method, path, json.dumps(doc).encode(),
                                  {"Content-Type": "application/json",
                                   "Authorization": "Bearer " + key})
        return s, (json.loads(b) if b else None), t
