"""Two datacenters on one Cassandra keyspace: dc1 (a node on 127.0.0.1) and dc2 (a node on
127.0.0.2), replicated to both, one imgd per datacenter, one S3 bucket for both.

What it shows (docs/architecture.md, "Cassandra"): an image uploaded in dc1 is readable in
dc2 (the lag is printed); deleting in dc1 while the same bytes are uploaded in dc2 never
leaves an image without its bytes; identical uploads in both datacenters at once end with at
most one image per datacenter, every acknowledged one readable; with dc2's Cassandra down dc1
keeps serving reads and uploads while dc2's imgd answers 503 + Retry-After, and once it is
back dc2 catches up with no write lost."""
import concurrent.futures
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from harness import IMGD_CQL_BIN, REMOTE, Server, corpus_bytes, sha256

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "engines"))
from engines import Cassandra, Swift  # noqa: E402

PHOTO = "real/real_01_skagen_800x533.jpg"
OTHER = "real/real_02_honeybee_1620x1280.jpg"
RACED = "real/real_03_storm_1920x1280.jpg"  # only test_c's: no other image references it


def eventually(check, timeout=60, what="condition"):
    """Polls check() until it returns a true value; returns it and the seconds it took."""
    started = time.monotonic()
    while True:
        value = check()
        if value:
            return value, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


@unittest.skipIf(REMOTE, "starts its own two-datacenter cluster")
class TwoDatacentersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        try:
            cls.start_cluster()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start_cluster(cls):
        cls.nodes = []
        cls.tmp = tempfile.mkdtemp(prefix="imgd-2dc-")
        cls.s3 = Swift(cls.tmp).start()
        # No logins here: system_auth's default replication would put the roles on one
        # datacenter's node, and this test takes that node down.
        cls.dc1 = Cassandra(cls.tmp, "127.0.0.1", "dc1", name="dc1", auth=False).start()
        cls.dc2 = Cassandra(cls.tmp, "127.0.0.2", "dc2", seed="127.0.0.1", name="dc2",
                            storage_port=cls.dc1.storage_port,
                            native_port=cls.dc1.native_port, auth=False).start()
        print(f"\ncassandra nodes up: dc1 {cls.dc1.startup_s:.1f} s, dc2 {cls.dc2.startup_s:.1f} s",
              file=sys.stderr)
        port = cls.dc1.native_port
        eventually(lambda: "dc2" in cls.cql(f"cassandra://127.0.0.1:{port}/system?dc=dc1",
                                            "SELECT data_center FROM system.peers"),
                   what="dc1 sees dc2")
        hosts = f"127.0.0.1,127.0.0.2:{port}"
        env = {"IMGD_S3_ACCESS_KEY": cls.s3.access_key, "IMGD_S3_SECRET_KEY": cls.s3.secret_key}
        blob = cls.s3.url + "&prefix=twodc"
        for dc in ("dc1", "dc2"):
            url = f"cassandra://{hosts}/twodc?dc={dc}&replication=dc1:1,dc2:1&timeout_ms=2000"
            cls.nodes.append(Server(extra_args=["--meta", url, "--blob", blob], env=env).start())
        cls.one, cls.two = cls.nodes

    @classmethod
    def tearDownClass(cls):
        for n in getattr(cls, "nodes", []):
            n.cleanup()
        for engine in ("dc2", "dc1", "s3"):
            if hasattr(cls, engine):
                getattr(cls, engine).stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @staticmethod
    def cql(url, statement):
        out = subprocess.run([IMGD_CQL_BIN, url, statement], capture_output=True, text=True,
                             timeout=60)
        return out.stdout if out.returncode == 0 else ""

    def user(self, name):
        """A user created in dc1, once its key works in dc2 too."""
        key = self.one.create_user(name)["apiKey"]
        eventually(lambda: self.two.request("GET", "/v1/images", key=key).status == 200,
                   what="the key replicated to dc2")
        return key

    def readable(self, node, image_id, data):
        r = node.request("GET", f"/v1/images/{image_id}/content")
        return r.status == 200 and r.body == data

    def test_a_upload_in_dc1_is_readable_in_dc2(self):
        key = self.user("lag")
        lags = []
        for path in (PHOTO, OTHER):
            data = corpus_bytes(path)
            r = self.one.upload(data, key, query="?onDuplicate=new")
            self.assertEqual(r.status, 201, r.body)
            image_id = r.json()["imageId"]
            _, lag = eventually(lambda: self.readable(self.two, image_id, data),
                                what="the image in dc2")
            lags.append(lag)
        print(f"cross-DC visibility lag (upload answered in dc1 -> content in dc2): "
              f"{', '.join(f'{1000 * x:.0f} ms' for x in lags)}", file=sys.stderr)

    def test_b_identical_uploads_in_both_dcs(self):
        key = self.user("twins")
        data = corpus_bytes(OTHER)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda n: n.upload(data, key), self.nodes))
        for a in answers:
            self.assertIn(a.status, (200, 201), a.body)
        acked = {a.json()["imageId"] for a in answers}
        # One winner per datacenter's duplicate slot: one image, or one per datacenter.
        self.assertIn(len(acked), (1, 2))
        print(f"identical uploads in both DCs at once: {len(acked)} image(s)", file=sys.stderr)
        for node in self.nodes:
            for image_id in acked:
                eventually(lambda: self.readable(node, image_id, data), what="acked image")
        for node in self.nodes:
            listed = {i["imageId"] for i in node.request("GET", "/v1/images?limit=100",
                                                         key=key).json()["images"]
                      if i["sha256"] == sha256(data)}
            self.assertEqual(listed, acked)
        # Later uploads of the same bytes find one of them (the slots have converged).
        for node in self.nodes:
            again = node.upload(data, key)
            self.assertEqual(again.status, 200, again.body)
            self.assertIn(again.json()["imageId"], acked)

    def test_c_delete_in_dc1_while_uploading_the_same_bytes_in_dc2(self):
        deleter, uploader = self.user("deleter"), self.user("uploader")
        data = corpus_bytes(RACED)
        removed_before = [self.removed(n) for n in self.nodes]
        jitter = random.Random(15)
        for round in range(12):
            first = self.one.upload(data, deleter, query="?onDuplicate=new")
            self.assertEqual(first.status, 201, first.body)
            doomed = first.json()["imageId"]
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                deleted = pool.submit(self.one.request, "DELETE", "/v1/images/" + doomed,
                                      key=deleter)
                # The upload starts 0-40 ms after the delete, so that rounds interleave the
                # delete's removal and the upload's commit differently (not a synchronisation).
                lag = jitter.uniform(0, 0.04)
                made = pool.submit(lambda: time.sleep(lag) or self.two.upload(
                    data, uploader, query="?onDuplicate=new"))
            self.assertEqual(deleted.result().status, 204)
            self.assertEqual(made.result().status, 201, made.result().body)
            kept = made.result().json()["imageId"]
            # Every acknowledged image has its bytes, in both datacenters.
            self.assertTrue(self.readable(self.two, kept, data), f"round {round}")
            eventually(lambda: self.readable(self.one, kept, data), what=f"round {round} in dc1")
            # The uploader's image goes too, so the next round starts from no reference.
            gone = self.two.request("DELETE", "/v1/images/" + kept, key=uploader)
            self.assertEqual(gone.status, 204)
        removed = [self.removed(n) - b for n, b in zip(self.nodes, removed_before)]
        print(f"delete/upload race, 12 rounds: bytes removed {removed[0]:.0f} times by dc1's "
              f"racing deletes, {removed[1]:.0f} times by dc2's deletes between rounds",
              file=sys.stderr)
        self.assertGreater(sum(removed), 0)  # removal across datacenters did happen

    @staticmethod
    def gauge(node, name):
        for line in node.metrics().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def removed(self, node):
        return self.gauge(node, "imgd_blobs_deleted_total")

    def test_d_dc2_down_then_back(self):
        key = self.user("outage")
        data, other = corpus_bytes(PHOTO), corpus_bytes(OTHER)
        before = self.one.upload(data, key, query="?onDuplicate=new").json()["imageId"]
        eventually(lambda: self.readable(self.two, before, data), what="replicated")
        self.dc2.stop()
        # dc1 serves reads, uploads and deletes alone.
        during = self.one.upload(other, key, query="?onDuplicate=new")
        self.assertEqual(during.status, 201, during.body)
        during_id = during.json()["imageId"]
        self.assertTrue(self.readable(self.one, during_id, other))
        self.assertTrue(self.readable(self.one, before, data))
        self.assertEqual(self.one.request("DELETE", "/v1/images/" + before, key=key).status, 204)
        self.assertEqual(self.one.request("GET", "/readyz").status, 200)
        # dc2's imgd says so, quickly, with a time to retry.
        started = time.monotonic()
        r = self.two.request("GET", f"/v1/images/{during_id}", key=key)
        self.assertEqual(r.status, 503, r.body)
        self.assertLess(time.monotonic() - started, 5.0)
        self.assertTrue(r.header("retry-after"))
        self.assertEqual(r.header("content-type"), "application/problem+json")
        self.assertEqual(self.two.request("GET", "/readyz").status, 503)
        # The breaker opens after five failures in a row: calls then fail at once.
        for _ in range(6):
            self.two.request("GET", f"/v1/images/{during_id}", key=key)
        self.assertNotEqual(self.gauge(self.two, "imgd_meta_circuit_state"), 0)
        self.assertIn('imgd_store_errors_total{store="cassandra"', self.two.metrics())
        # dc2 back: its imgd recovers by itself and sees every write dc1 took meanwhile.
        self.dc2.start()
        _, catch_up = eventually(lambda: self.readable(self.two, during_id, other), timeout=120,
                                 what="dc2 caught up")
        eventually(lambda: self.two.request("GET", f"/v1/images/{before}", key=key).status == 404,
                   timeout=120, what="the delete reached dc2")
        self.assertEqual(self.two.request("GET", "/readyz").status, 200)
        self.assertEqual(self.gauge(self.two, "imgd_meta_circuit_state"), 0)
        print(f"dc2 back: caught up {catch_up:.1f} s after its node answered", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
