"""Near-duplicates (perceptual hashes): the upload answer lists the owner's images that look
the same, onDuplicate=reject-similar refuses them, GET /v1/images/{id}/similar lists them on
demand; mirrored and unrelated photos are not near-duplicates, and nothing crosses users."""
import hashlib
import json
import re
import time
import unittest
import urllib.parse

from harness import CASSANDRA, Server, ServerTest, corpus_bytes

CUPS = "duplicates/dup_g1_a_cups.jpg"
REENCODED = "duplicates/dup_g1_h_cups_reencoded_same_q.jpg"
RESIZED = "duplicates/dup_g1_i_cups_resized_640.jpg"
STRIPPED = "duplicates/dup_g1_e_cups_metadata_stripped.jpg"
MIRRORED = "duplicates/dup_g1_k_cups_mirrored_not_dup.jpg"
OTHER = "real/real_02_honeybee_1620x1280.jpg"


class NearDuplicatesTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key = cls.server.create_user("near")["apiKey"]
        cls.other_key = cls.server.create_user("someone-else")["apiKey"]

    def upload(self, path, key=None, query=""):
        return self.server.upload(corpus_bytes(path), key or self.key, query=query)

    def similar(self, image_id, query="", key=None):
        return self.server.request("GET", f"/v1/images/{image_id}/similar{query}",
                                   key=key or self.key)

    def test_near_duplicates_are_listed_found_and_refused(self):
        r = self.upload(CUPS)
        self.assertEqual(r.status, 201, r.body)
        cups = r.json()
        self.assertEqual(cups["nearDuplicates"], [])

        r = self.upload(REENCODED)
        self.assertEqual(r.status, 201)
        near = r.json()["nearDuplicates"]
        self.assertEqual([n["imageId"] for n in near], [cups["imageId"]])
        self.assertLessEqual(near[0]["distance"], 2)
        reencoded = r.json()["imageId"]

        resized = self.upload(RESIZED).json()["imageId"]
        r = self.upload(MIRRORED)
        self.assertEqual(r.status, 201)
        self.assertEqual(r.json()["nearDuplicates"], [])  # a mirror image is another picture

        # Another user's copy of the same photo sees none of this user's images.
        r = self.upload(CUPS, key=self.other_key)
        self.assertEqual(r.status, 201)
        self.assertEqual(r.json()["nearDuplicates"], [])

        # Refused when similar, named; accepted otherwise.
        r = self.upload(STRIPPED, query="?onDuplicate=reject-similar")
        p = self.assertProblem(r, 409, "similar-image")
        self.assertIn(p["existingImageId"], {cups["imageId"], reencoded, resized})
        self.assertLessEqual(p["distance"], 10)
        r = self.upload(OTHER, query="?onDuplicate=reject-similar")
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.json()["nearDuplicates"], [])

        # On demand, nearest first, within maxDistance.
        r = self.similar(cups["imageId"])
        self.assertEqual(r.status, 200, r.body)
        found = {s["imageId"]: s["distance"] for s in r.json()["similar"]}
        self.assertEqual(set(found), {reencoded, resized})
        self.assertEqual(r.json()["maxDistance"], 10)
        distances = [s["distance"] for s in r.json()["similar"]]
        self.assertEqual(distances, sorted(distances))
        r = self.similar(cups["imageId"], "?maxDistance=0")
        self.assertTrue(all(s["distance"] == 0 for s in r.json()["similar"]))
        for bad in ("?maxDistance=16", "?maxDistance=-1", "?maxDistance=x", "?near=1"):
            self.assertEqual(self.similar(cups["imageId"], bad).status, 400, bad)
        self.assertProblem(self.similar(cups["imageId"], key=self.other_key), 403)

        # A deleted image is no longer anyone's near-duplicate.
        r = self.server.request("DELETE", f"/v1/images/{reencoded}", key=self.key)
        self.assertEqual(r.status, 204)
        found = [s["imageId"] for s in self.similar(cups["imageId"]).json()["similar"]]
        self.assertEqual(found, [resized])

    def test_onduplicate_values_are_checked(self):
        r = self.upload(CUPS, query="?onDuplicate=similar")
        p = self.assertProblem(r, 400)
        self.assertIn("reject-similar", p["detail"])


class CheckBeforeSendingTest(ServerTest):
    """The pre-signed flow's optional sha256: a caller who already has those bytes gets the
    image back without sending them; otherwise the bytes sent must match the declaration."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key = cls.server.create_user("sha-check")["apiKey"]
        cls.other_key = cls.server.create_user("sha-other")["apiKey"]

    def presign(self, data, key=None, query="", **fields):
        body = dict({"imageName": "declared", "size": len(data)}, **fields)
        return self.server.request("POST", "/v1/images" + query, json.dumps(body),
                                   {"Content-Type": "application/json"}, key=key or self.key)

    def send(self, answer, data):
        self.assertIn("preSignedUrl", answer)
        if "completeUrl" in answer:
            self.skipTest("the bucket takes the bytes directly")
        path = urllib.parse.urlsplit(answer["preSignedUrl"]).path
        return self.server.request("PUT", path, data, {"Content-Type": "image/jpeg"})

    def test_known_bytes_need_not_be_sent(self):
        data = corpus_bytes(OTHER)
        sha = hashlib.sha256(data).hexdigest()
        r = self.presign(data, sha256=sha)
        self.assertEqual(r.status, 201, r.body)
        first = self.send(r.json(), data)
        self.assertIn(first.status, (200, 201), first.body)
        image_id = first.json()["imageId"]

        r = self.presign(data, sha256=sha.upper())
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.json()["duplicate"])
        self.assertEqual(r.json()["imageId"], image_id)
        self.assertNotIn("preSignedUrl", r.json())
        p = self.assertProblem(self.presign(data, query="?onDuplicate=reject", sha256=sha), 409,
                               "duplicate-image")
        self.assertEqual(p["existingImageId"], image_id)
        # Another user learns nothing about these bytes: a URL, as for any new image.
        r = self.presign(data, key=self.other_key, sha256=sha)
        self.assertEqual(r.status, 201)
        self.assertIn("preSignedUrl", r.json())

    def test_bytes_that_do_not_match_the_declaration_are_refused(self):
        data = corpus_bytes(CUPS)
        declared = hashlib.sha256(b"something else").hexdigest()
        r = self.presign(data, key=self.other_key, sha256=declared)
        self.assertEqual(r.status, 201, r.body)
        self.assertProblem(self.send(r.json(), data), 422, "sha256-mismatch")
        for bad in ("abc", "g" * 64, 12):
            self.assertProblem(self.presign(data, sha256=bad), 400)


def backfilled(server, result):
    total = 0.0
    for line in server.metrics().splitlines():
        m = re.match(r'^imgd_similarity_backfill_images_total\{result="([^"]*)"\} (\S+)$', line)
        if m and m.group(1) == result:
            total += float(m.group(2))
    return total


def backfill_done(server):
    """Waits for this start's pass to finish (or find itself finished earlier)."""
    deadline = time.monotonic() + 60
    while "imgd_similarity_backfill_state 2" not in server.metrics():
        assert time.monotonic() < deadline, "the backfill did not finish"
        time.sleep(0.05)


@unittest.skipIf(CASSANDRA, "shapes the SQL database by hand")
class BackfillTest(unittest.TestCase):
    """Images stored before perceptual hashes and placeholders get theirs at the next start,
    once."""

    def test_images_without_hashes_are_hashed_and_indexed_at_start(self):
        server = Server(nodes=1).start()
        try:
            key = server.create_user("old")["apiKey"]
            uploaded = server.upload(corpus_bytes(CUPS), key).json()
            cups = uploaded["imageId"]
            resized = server.upload(corpus_bytes(RESIZED), key).json()["imageId"]
            server.stop()
            # As an older imgd left it: no hashes, no index, no placeholders, no finished pass.
            with server.db() as db:  # commits on leaving (SQLite and PostgreSQL alike)
                db.execute("DELETE FROM content_hashes")
                db.execute("DELETE FROM similar_index")
                db.execute("UPDATE images SET blurhash = ''")
                db.execute("UPDATE blobs SET blurhash = ''")
            server.start()
            backfill_done(server)
            self.assertEqual(backfilled(server, "hashed"), 2)
            self.assertEqual(backfilled(server, "indexed"), 2)
            self.assertEqual(backfilled(server, "placeholder"), 2)
            got = server.request("GET", f"/v1/images/{cups}", key=key).json()
            self.assertEqual(got["blurhash"], uploaded["blurhash"])
            r = server.request("GET", f"/v1/images/{cups}/similar", key=key)
            self.assertEqual([s["imageId"] for s in r.json()["similar"]], [resized])
            # Done once: the next start finds the pass finished.
            server.stop()
            server.start()
            backfill_done(server)
            self.assertEqual(backfilled(server, "indexed"), 0)
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
