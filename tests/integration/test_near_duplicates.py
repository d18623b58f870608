"""Near-duplicates (perceptual hashes): the upload answer lists the owner's images that look
the same, onDuplicate=reject-similar refuses them, GET /v1/images/{id}/similar lists them on
demand; mirrored and unrelated photos are not near-duplicates, and nothing crosses users."""
import unittest

from harness import ServerTest, corpus_bytes

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


if __name__ == "__main__":
    unittest.main()
