"""imgd migrate: the embedded default (SQLite + files) copied to PostgreSQL + S3 and to
Cassandra + S3, and PostgreSQL + S3 copied to Cassandra + S3 (real engines on loopback);
resumable after an interruption, source untouched; then an imgd node on the new stores
serves every image byte-identical to the same keys."""
import hashlib
import os
import subprocess
import sys
import unittest

from harness import IMGD_BIN, REMOTE, Server, corpus_bytes, manifest, sha256

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "engines"))
from engines import Engines  # noqa: E402

SHARED = "real/real_01_skagen_800x533.jpg"


def tree_digest(root):
    h = hashlib.sha256()
    for d, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            p = os.path.join(d, f)
            h.update(p.encode())
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


@unittest.skipIf(REMOTE, "copies the embedded stores to PostgreSQL, Cassandra and S3 itself")
class MigrateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.engines = Engines(cassandra=True).start()
        cls.env = dict(os.environ, **cls.engines.env())
        cls.src = Server().start()
        try:
            cls.uploaded = cls.fill(cls.src)
        finally:
            cls.src.stop()
        cls.source = (f"sqlite://{cls.src.data_dir}/imgd.db", f"file://{cls.src.data_dir}/blobs")

    @classmethod
    def tearDownClass(cls):
        cls.src.cleanup()
        cls.engines.stop()

    @staticmethod
    def fill(src):
        alice = src.create_user("alice")["apiKey"]
        bob = src.create_user("bob")["apiKey"]
        uploaded = {}
        for row in manifest():  # every JPEG of the corpus that imgd accepts
            if row["expected"] != "accept":
                continue
            data = corpus_bytes(row["path"])
            r = src.upload(data, alice, query="?onDuplicate=new")
            assert r.status == 201, r.body
            uploaded[r.json()["imageId"]] = (data, alice, bob)
        data = corpus_bytes(SHARED)
        for key, query in ((bob, ""), (alice, "?onDuplicate=new")):  # shared blob, extra record
            r = src.upload(data, key, query=query)
            assert r.status == 201, r.body
            uploaded[r.json()["imageId"]] = (data, key, bob)
        return uploaded

    def postgres(self, name):
        subprocess.run(["psql", self.engines.pg.url, "-Xqc", f"CREATE DATABASE {name}"],
                       check=True, capture_output=True)
        return self.engines.pg.url.rsplit("/", 1)[0] + "/" + name

    def cassandra(self, keyspace):
        return self.engines.cassandra.url.replace("/imgd?", f"/{keyspace}?")

    def migrate(self, source, to_meta, to_blob):
        """Copies source to the new stores (interrupted after 4 images, then resumed), and
        checks that a third run has nothing left to do."""
        cmd = [IMGD_BIN, "migrate", "--from-meta", source[0], "--from-blob", source[1],
               "--to-meta", to_meta, "--to-blob", to_blob]
        first = subprocess.run(cmd + ["--max-images", "4"], capture_output=True, text=True,
                               env=self.env, timeout=300)
        self.assertEqual(first.returncode, 3, first.stderr + first.stdout)
        second = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=300)
        self.assertEqual(second.returncode, 0, second.stderr + second.stdout)
        self.assertIn(f"{len(self.uploaded)} images", second.stdout)
        self.assertIn("each verified", second.stdout)
        third = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=300)
        self.assertEqual(third.returncode, 0, third.stderr)
        self.assertIn("(0 new), 0 blobs copied", third.stdout)

    def assertServes(self, to_meta, to_blob):
        """Every image byte-identical to its owner's key; the shared bytes' reference counts
        came along (deleting one of the two records keeps them for the other)."""
        node = Server(extra_args=["--meta", to_meta, "--blob", to_blob], env=self.engines.env(),
                      nodes=1).start()
        try:
            for image_id, (data, key, _) in self.uploaded.items():
                meta = node.request("GET", "/v1/images/" + image_id, key=key)
                self.assertEqual(meta.status, 200, meta.body)
                self.assertEqual(meta.json()["sha256"], sha256(data))
                got = node.request("GET", f"/v1/images/{image_id}/content")
                self.assertEqual(got.body, data)
            data = corpus_bytes(SHARED)
            shared = [i for i, (d, k, bob) in self.uploaded.items() if d == data and k == bob][0]
            bob = self.uploaded[shared][1]
            self.assertEqual(node.request("DELETE", "/v1/images/" + shared, key=bob).status, 204)
            for i, (d, k, bob) in self.uploaded.items():
                if d == data and k != bob:
                    self.assertEqual(node.request("GET", f"/v1/images/{i}/content").body, data)
        finally:
            node.cleanup()

    def assertSourceUntouched(self, check):
        before = (tree_digest(os.path.join(self.src.data_dir, "blobs")),
                  self.src.db().execute("SELECT COUNT(*) FROM images").fetchone()[0])
        check()
        after = (tree_digest(os.path.join(self.src.data_dir, "blobs")),
                 self.src.db().execute("SELECT COUNT(*) FROM images").fetchone()[0])
        self.assertEqual(after, before)

    def test_embedded_to_postgres_and_s3(self):
        to = (self.postgres("migrated"), self.engines.s3.url + "&prefix=migrated")
        self.assertSourceUntouched(lambda: self.migrate(self.source, *to))
        self.assertServes(*to)

    def test_embedded_to_cassandra_and_s3(self):
        to = (self.cassandra("migrated"), self.engines.s3.url + "&prefix=to-cassandra")
        self.assertSourceUntouched(lambda: self.migrate(self.source, *to))
        self.assertServes(*to)

    def test_a_refused_cassandra_login_says_so(self):
        """The test node runs PasswordAuthenticator: a wrong password or none is refused at
        connect with the cluster's reason, and the password is never printed."""
        good = self.cassandra("refused")
        for url in (good.replace("cassandra:cassandra@", "cassandra:Wr0ng-pa55@"),
                    good.replace("cassandra:cassandra@", "")):
            out = subprocess.run([IMGD_BIN, "migrate", "--meta", url, "--data",
                                  os.path.join(self.src.data_dir, "refused")],
                                 capture_output=True,
                                 text=True, env=self.env, timeout=120)
            self.assertNotEqual(out.returncode, 0)
            self.assertRegex(out.stderr, "bad credentials|Authentication is required")
            self.assertNotIn("Wr0ng-pa55", out.stderr + out.stdout)

    def test_postgres_to_cassandra(self):
        pg = (self.postgres("staging"), self.engines.s3.url + "&prefix=pg")
        self.migrate(self.source, *pg)
        to = (self.cassandra("from_pg"), self.engines.s3.url + "&prefix=from-pg")
        self.migrate(pg, *to)
        self.assertServes(*to)


if __name__ == "__main__":
    unittest.main()
