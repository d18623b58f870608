"""Placeholders: every ready image's JSON carries a BlurHash computed at upload, whichever flow
brought the bytes (direct, multipart, pre-signed, tus, a duplicate of known bytes), shaped by
the upright picture, and the same for the same pixels."""
import json
import re
import unittest

from harness import ServerTest, corpus_bytes

BLURHASH = re.compile(r"^[0-9A-Za-z#$%*+,.:;=?@\[\]^_{|}~-]{28}$")
CUPS = "duplicates/dup_g1_a_cups.jpg"
CUPS_PROGRESSIVE = "duplicates/dup_g1_f_cups_lossless_progressive.jpg"
CUPS_TURNED = "duplicates/dup_g1_j_cups_orientation6_tag.jpg"
CMYK = "variants/v11_cmyk_adobe_app14_no_icc.jpg"
GREY = "variants/v08_grayscale_q85.jpg"
TUS = {"Tus-Resumable": "1.0.0"}


class PlaceholderTest(ServerTest):
    def setUp(self):
        self.key = self.server.create_user("placeholders")["apiKey"]

    def upload(self, path, query=""):
        r = self.server.upload(corpus_bytes(path), self.key, query=query)
        self.assertIn(r.status, (200, 201), r.body)
        return r.json()

    def test_every_upload_answer_and_read_carries_one(self):
        cups = self.upload(CUPS)
        self.assertRegex(cups["blurhash"], BLURHASH)
        self.assertEqual(cups["blurhash"][0], "L")  # 4x3 components: a landscape picture
        got = self.server.request("GET", f"/v1/images/{cups['imageId']}", key=self.key).json()
        self.assertEqual(got["blurhash"], cups["blurhash"])
        listed = self.server.request("GET", "/v1/images", key=self.key).json()["images"]
        self.assertIn(cups["blurhash"], [i["blurhash"] for i in listed])
        # Same pixels, other bytes: the same placeholder. Turned by EXIF: a portrait one.
        self.assertEqual(self.upload(CUPS_PROGRESSIVE)["blurhash"], cups["blurhash"])
        self.assertEqual(self.upload(CUPS_TURNED)["blurhash"][0], "T")
        for path in (CMYK, GREY):
            self.assertRegex(self.upload(path)["blurhash"], BLURHASH, path)
        # Known bytes skip the decode; the placeholder comes from the stored content.
        self.assertEqual(self.upload(CUPS)["blurhash"], cups["blurhash"])
        self.assertEqual(self.upload(CUPS, "?onDuplicate=new")["blurhash"], cups["blurhash"])
        multipart = self.server.upload_multipart(corpus_bytes(CUPS), self.key,
                                                 query="?onDuplicate=new")
        self.assertEqual(multipart.json()["blurhash"], cups["blurhash"])

    def test_pending_images_get_theirs_when_the_bytes_arrive(self):
        data = corpus_bytes(GREY)
        body = {"imageName": "later", "format": "jpg", "size": len(data)}
        r = self.server.request("POST", "/v1/images", json.dumps(body),
                                {"Content-Type": "application/json"}, key=self.key)
        self.assertEqual(r.status, 201, r.body)
        pending = r.json()
        self.assertIsNone(pending["blurhash"])
        path = "/" + pending["preSignedUrl"].split("/", 3)[3]
        done = self.server.request("PUT", path, data, {"Content-Type": "image/jpeg"})
        self.assertEqual(done.status, 200, done.body)
        self.assertRegex(done.json()["blurhash"], BLURHASH)
        # tus: the finished upload's image has one too.
        data = corpus_bytes(CMYK)
        r = self.server.request("POST", "/v1/uploads", b"",
                                dict(TUS, **{"Upload-Length": str(len(data))}), key=self.key)
        self.assertEqual(r.status, 201, r.body)
        path = "/v1/" + r.header("location").split("/v1/", 1)[1]
        r = self.server.request("PATCH", path, data,
                                dict(TUS, **{"Upload-Offset": "0",
                                             "Content-Type": "application/offset+octet-stream"}),
                                key=self.key)
        self.assertEqual(r.status, 200, r.body)
        self.assertRegex(r.json()["blurhash"], BLURHASH)

if __name__ == "__main__":
    unittest.main()
