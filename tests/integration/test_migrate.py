"""imgd migrate: the embedded default (SQLite + files) copied to PostgreSQL + S3 (real engines
on loopback), resumable after an interruption, source untouched; then an imgd node on the
new stores serves every image byte-identical to the same keys."""
import hashlib
import os
import subprocess
import sys
import unittest

from harness import IMGD_BIN, REMOTE, Server, corpus_bytes, manifest, sha256

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "engines"))
from engines import Engines  # noqa: E402


def tree_digest(root):
    h = hashlib.sha256()
    for d, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            p = os.path.join(d, f)
            h.update(p.encode())
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


@unittest.skipIf(REMOTE, "copies the embedded stores to PostgreSQL + S3 itself")
class MigrateTest(unittest.TestCase):
    def test_embedded_to_postgres_and_s3(self):
        src = Server().start()
        engines = Engines().start()
        try:
            alice = src.create_user("alice")["apiKey"]
            bob = src.create_user("bob")["apiKey"]
            uploaded = {}
            for row in manifest():  # every JPEG of the corpus that imgd accepts
                if row["expected"] != "accept":
                    continue
                data = corpus_bytes(row["path"])
                r = src.upload(data, alice, query="?onDuplicate=new")
                self.assertEqual(r.status, 201, r.body)
                uploaded[r.json()["imageId"]] = (data, alice)
            data = corpus_bytes("real/real_01_skagen_800x533.jpg")
            for key, query in ((bob, ""), (alice, "?onDuplicate=new")):  # shared blob, extra record
                r = src.upload(data, key, query=query)
                self.assertEqual(r.status, 201)
                uploaded[r.json()["imageId"]] = (data, key)
            src.stop()
            before = (tree_digest(os.path.join(src.data_dir, "blobs")),
                      src.db().execute("SELECT COUNT(*) FROM images").fetchone()[0])

            subprocess.run(["psql", engines.pg.url, "-Xqc", "CREATE DATABASE migrated"],
                           check=True, capture_output=True)
            to_meta = engines.pg.url.rsplit("/", 1)[0] + "/migrated"
            to_blob = engines.s3.url + "&prefix=migrated"
            cmd = [IMGD_BIN, "migrate", "--from-meta", f"sqlite://{src.data_dir}/imgd.db",
                   "--from-blob", f"file://{src.data_dir}/blobs", "--to-meta", to_meta,
                   "--to-blob", to_blob]
            env = dict(os.environ, **engines.env())
            # Interrupted after 4 images, then resumed.
            first = subprocess.run(cmd + ["--max-images", "4"], capture_output=True, text=True,
                                   env=env, timeout=300)
            self.assertEqual(first.returncode, 3, first.stderr + first.stdout)
            second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
            self.assertEqual(second.returncode, 0, second.stderr + second.stdout)
            self.assertIn(f"{len(uploaded)} images", second.stdout)
            self.assertIn("each verified", second.stdout)
            # Again: nothing left to do.
            third = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
            self.assertEqual(third.returncode, 0, third.stderr)
            self.assertIn("(0 new), 0 blobs copied", third.stdout)
            # The source is untouched.
            self.assertEqual((tree_digest(os.path.join(src.data_dir, "blobs")),
                              src.db().execute("SELECT COUNT(*) FROM images").fetchone()[0]),
                             before)

            node = Server(extra_args=["--meta", to_meta, "--blob", to_blob], env=engines.env(),
                          nodes=1).start()
            try:
                for image_id, (data, key) in uploaded.items():
                    meta = node.request("GET", "/v1/images/" + image_id, key=key)
                    self.assertEqual(meta.status, 200, meta.body)
                    self.assertEqual(meta.json()["sha256"], sha256(data))
                    got = node.request("GET", f"/v1/images/{image_id}/content")
                    self.assertEqual(got.body, data)
                # Reference counts came along: deleting one of the two records of the shared
                # bytes keeps them for the other.
                shared = [i for i, (d, k) in uploaded.items() if d == data and k == bob][0]
                self.assertEqual(node.request("DELETE", "/v1/images/" + shared, key=bob).status,
                                 204)
                others = [i for i, (d, k) in uploaded.items() if d == data and k == alice]
                for i in others:
                    self.assertEqual(node.request("GET", f"/v1/images/{i}/content").body, data)
            finally:
                node.cleanup()
        finally:
            src.cleanup()
            engines.stop()


if __name__ == "__main__":
    unittest.main()
