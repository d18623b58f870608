"""Content-addressed dedup: byte-identical uploads share one blob; policies per DESIGN.md."""
import concurrent.futures
import csv
import os

from harness import CORPUS, ServerTest, corpus_bytes, sha256


def pairs():
    with open(os.path.join(CORPUS, "duplicates", "PAIRS.tsv")) as f:
        return list(csv.DictReader(f, delimiter="\t"))


class DuplicatesTest(ServerTest):
    def refcount(self, digest):
        return self.server.blobs().get(digest, 0)

    def test_pairs_dedup_only_when_byte_identical(self):
        for row in pairs():
            key = self.server.create_user("pairs")["apiKey"]
            a = self.server.upload(corpus_bytes(row["a"]), key)
            self.assertEqual(a.status, 201, a.body)
            b = self.server.upload(corpus_bytes(row["b"]), key)
            if row["byte_identical"] == "yes":
                self.assertEqual(b.status, 200, row)
                self.assertTrue(b.json()["duplicate"])
                self.assertEqual(b.json()["imageId"], a.json()["imageId"])
            else:
                self.assertEqual(b.status, 201, row)
                self.assertNotIn("duplicate", b.json())
                self.assertNotEqual(b.json()["sha256"], a.json()["sha256"])

    def test_policies(self):
        key = self.server.create_user("policy")["apiKey"]
        data = corpus_bytes("duplicates/dup_g1_a_cups.jpg")
        refs_before = self.refcount(sha256(data))
        first = self.server.upload(data, key)
        self.assertEqual(first.status, 201)
        img = first.json()
        again = self.server.upload_multipart(data, key, {"imageName": "copy"},
                                             filename="CUPS_COPY.JPEG")
        self.assertEqual(again.status, 200)
        self.assertEqual(again.json()["imageId"], img["imageId"])
        self.assertTrue(again.json()["duplicate"])
        rejected = self.server.upload(data, key, query="?onDuplicate=reject")
        p = self.assertProblem(rejected, 409, "duplicate-image")
        self.assertEqual(p["existingImageId"], img["imageId"])
        new = self.server.upload(data, key, query="?onDuplicate=new")
        self.assertEqual(new.status, 201)
        self.assertNotEqual(new.json()["imageId"], img["imageId"])
        self.assertEqual(new.json()["sha256"], img["sha256"])
        self.assertProblem(self.server.upload(data, key, query="?onDuplicate=maybe"), 400)
        self.assertEqual(self.refcount(img["sha256"]), refs_before + 2)  # first + new
        self.assertEqual(sum(1 for f in self.server.blob_files() if img["sha256"] in f), 1)

    def test_concurrent_identical_uploads_make_one_image(self):
        key = self.server.create_user("racer")["apiKey"]
        data = corpus_bytes("real/real_05_wood_2560x1920.jpg")
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            results = list(ex.map(lambda _: self.server.upload(data, key), range(16)))
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, [200] * 15 + [201], [r.body[:200] for r in results])
        self.assertEqual(len({r.json()["imageId"] for r in results}), 1)
        listing = self.server.request("GET", "/v1/images", key=key).json()["images"]
        self.assertEqual(len(listing), 1)
        self.assertEqual(sum(1 for f in self.server.blob_files() if sha256(data) in f), 1)
        self.assertEqual(self.server.temp_files(), [])

    def test_two_users_share_a_blob_and_delete_keeps_the_other(self):
        k1 = self.server.create_user("u1")["apiKey"]
        k2 = self.server.create_user("u2")["apiKey"]
        data = corpus_bytes("real/real_07_chameleon_1306x1530.jpg")
        a = self.server.upload(data, k1)
        b = self.server.upload(data, k2)
        self.assertEqual((a.status, b.status), (201, 201))
        self.assertNotEqual(a.json()["imageId"], b.json()["imageId"])
        self.assertEqual(a.json()["sha256"], b.json()["sha256"])
        blobs = [f for f in self.server.blob_files() if sha256(data) in f]
        self.assertEqual(len(blobs), 1)
        self.assertEqual(self.server.request("DELETE", f"/v1/images/{a.json()['imageId']}",
                                             key=k1).status, 204)
        c = self.server.request("GET", f"/v1/images/{b.json()['imageId']}/content")
        self.assertEqual(c.status, 200)
        self.assertEqual(c.body, data)
        self.assertEqual(self.server.request("GET", f"/v1/images/{a.json()['imageId']}/content")
                         .status, 404)
        self.assertEqual(self.server.request("DELETE", f"/v1/images/{b.json()['imageId']}",
                                             key=k2).status, 204)
        self.assertFalse(os.path.exists(blobs[0]))  # last reference gone: bytes gone
