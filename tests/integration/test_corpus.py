"""Every corpus file through the real server: bad files get their status and leave nothing
behind; good files round-trip byte-identical with the manifest's dimensions."""
import os

from harness import ServerTest, corpus_bytes, manifest, sha256


class CorpusTest(ServerTest):
    def test_bad_files_get_expected_status_and_leave_nothing(self):
        key = self.server.create_user("bad")["apiKey"]
        rows = [r for r in manifest() if r["kind"] == "bad"]
        self.assertEqual(len(rows), 26)
        accepted = 0
        for row in rows:
            data = corpus_bytes(row["path"])
            # Name and Content-Type lie on purpose: only the bytes decide.
            r = self.server.upload(data, key, content_type="image/jpeg")
            if row["expected"] == "accept":
                self.assertEqual(r.status, 201, (row["path"], r.body))
                img = r.json()
                self.assertEqual(img["sha256"], sha256(data))
                c = self.server.request("GET", f"/v1/images/{img['imageId']}/content")
                self.assertEqual(c.body, data, row["path"])  # served as stored
                self.assertEqual(c.header("x-content-type-options"), "nosniff")
                accepted += 1
            else:
                want = int(row["expected"].split("-")[1])
                self.assertProblem(r, want)
        self.assertEqual(accepted, 2)  # b18 polyglot, b25 EXIF loop: handled safely
        # Only the two accepted files are stored; no temp file, row or blob from the rest.
        self.assertEqual(len(self.server.blob_files()), 2)
        self.assertEqual(self.server.temp_files(), [])
        self.assertEqual(len(self.server.images()), 2)
        self.assertEqual(len(self.server.blobs()), 2)
        m = self.server.metrics()
        self.assertRegex(m, r'imgd_upload_rejects_total\{reason="not-jpeg"\} \d+')
        self.assertRegex(m, r'imgd_upload_rejects_total\{reason="too-many-pixels"\} \d+')

    def test_bad_files_as_multipart_too(self):
        key = self.server.create_user("badmp")["apiKey"]
        for row in manifest():
            if row["kind"] != "bad" or row["expected"] == "accept":
                continue
            r = self.server.upload_multipart(corpus_bytes(row["path"]), key, {"imageName": "x"})
            self.assertProblem(r, int(row["expected"].split("-")[1]))
        self.assertEqual(self.server.temp_files(), [])

    def test_real_and_variants_round_trip(self):
        key = self.server.create_user("good")["apiKey"]
        for row in manifest():
            if row["kind"] not in ("real", "variant"):
                continue
            data = corpus_bytes(row["path"])
            r = self.server.upload_multipart(data, key, {"imageName": os.path.basename(row["path"]),
                                                         "imageDescription": row["kind"]})
            if row["expected"] != "accept":
                self.assertProblem(r, int(row["expected"].split("-")[1]))
                continue
            self.assertIn(r.status, (200, 201), (row["path"], r.body))
            img = r.json()
            self.assertEqual(img["width"], int(row["width"]), row["path"])
            self.assertEqual(img["height"], int(row["height"]), row["path"])
            self.assertEqual(img["size"], len(data))
            self.assertEqual(img["format"], "jpg")
            self.assertEqual(img["status"], "ready")
            if r.status == 201:
                self.assertEqual(img["imageName"], os.path.basename(row["path"]))
            c = self.server.request("GET", f"/v1/images/{img['imageId']}/content")
            self.assertEqual(c.status, 200)
            self.assertEqual(c.header("content-type"), "image/jpeg")
            self.assertEqual(sha256(c.body), row["sha256"], row["path"])
        self.assertEqual(self.server.temp_files(), [])
