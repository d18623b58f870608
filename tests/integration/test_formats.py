"""Variants as WebP and AVIF: format=jpeg|webp|avif names the encoding, format=auto picks
the best one the Accept header allows and says Vary: Accept; each format is its own
variant (key, ETag, Content-Type); originals stay the JPEG that was uploaded; AVIF has its
own size limit; no metadata in any format."""
import json
import unittest

from harness import ServerTest, Server, corpus_bytes

PHOTO = "real/real_04_colorfulcups_2560x1600.jpg"
MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/webp": b"RIFF", "image/avif": b"ftypavif"}


def kind(body):
    if body.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp"
    if body[4:12] in (b"ftypavif", b"ftypavis"):
        return "image/avif"
    return "?"


class FormatsTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = cls.server.create_user("formats")
        r = cls.server.upload(corpus_bytes(PHOTO), cls.user["apiKey"])
        assert r.status == 201, r.body
        cls.image = r.json()["imageId"]
        cls.path = f"/v1/images/{cls.image}/content"

    def get(self, query, accept=None, **headers):
        if accept is not None:
            headers["Accept"] = accept
        return self.server.request("GET", self.path + query, headers=headers)

    def test_each_format_is_its_own_variant(self):
        etags = set()
        sizes = {}
        for fmt, media in (("jpeg", "image/jpeg"), ("webp", "image/webp"),
                           ("avif", "image/avif")):
            r = self.get(f"?w=640&format={fmt}")
            self.assertEqual(r.status, 200, r.body[:200])
            self.assertEqual(r.header("content-type"), media)
            self.assertEqual(kind(r.body), media)
            self.assertIsNone(r.header("vary"))  # the URL names the bytes
            etags.add(r.header("etag"))
            sizes[fmt] = len(r.body)
            again = self.get(f"?w=640&format={fmt}", **{"If-None-Match": r.header("etag")})
            self.assertEqual(again.status, 304)
        self.assertEqual(len(etags), 3)
        self.assertLess(sizes["avif"], sizes["jpeg"])
        # format=jpeg is the JPEG variant of before formats existed (same key, same ETag).
        self.assertEqual(self.get("?w=640&format=jpeg").header("etag"),
                         self.get("?w=640").header("etag"))

    def test_auto_picks_from_accept_and_says_vary(self):
        cases = {
            "image/avif,image/webp,image/apng,*/*;q=0.8": "image/avif",
            "image/webp,*/*": "image/webp",
            "image/avif;q=0,image/webp": "image/webp",
            "image/png,image/*;q=0.8,*/*;q=0.5": "image/jpeg",
            "": "image/jpeg",
        }
        for accept, media in cases.items():
            r = self.get("?w=320&format=auto", accept)
            self.assertEqual((r.status, r.header("content-type")), (200, media), accept)
            self.assertEqual(kind(r.body), media, accept)
            self.assertEqual(r.header("vary"), "Accept")
            # The ETag is the chosen format's: a revalidation with it is a 304 that varies too.
            again = self.get("?w=320&format=auto", accept, **{"If-None-Match": r.header("etag")})
            self.assertEqual((again.status, again.header("vary")), (304, "Accept"))
        self.assertEqual(self.get("?w=320&format=auto", "image/webp").header("etag"),
                         self.get("?w=320&format=webp").header("etag"))

    def test_quality_scales_every_format_and_progressive_is_jpeg_only(self):
        for fmt in ("webp", "avif"):
            low = self.get(f"?w=480&q=40&format={fmt}")
            high = self.get(f"?w=480&q=90&format={fmt}")
            self.assertLess(len(low.body), len(high.body), fmt)
            # progressive changes nothing but JPEG: the same variant either way.
            self.assertEqual(self.get(f"?w=480&q=90&format={fmt}&progressive=true").header("etag"),
                             high.header("etag"))

    def test_bad_formats_and_the_original(self):
        for query, param in (("?w=100&format=gif", "format"), ("?format=webp", "w"),
                             ("?w=100&format=", "format")):
            r = self.get(query)
            self.assertProblem(r, 400)
            self.assertEqual(r.json()["parameter"], param, query)
        # No variant parameter: the original, byte for byte, whatever the Accept.
        r = self.get("", "image/avif,image/webp")
        self.assertEqual(r.header("content-type"), "image/jpeg")
        self.assertEqual(r.body, corpus_bytes(PHOTO))

    def test_no_metadata_in_any_format(self):
        for fmt in ("webp", "avif"):
            body = self.get(f"?w=300&format={fmt}").body
            for marker in (b"Exif", b"EXIF", b"XMP ", b"http://ns.adobe.com", b"ICCP"):
                self.assertFalse(marker in body, f"{fmt} carries {marker!r}")

    def test_transform_call_and_links_know_formats(self):
        key = self.user["apiKey"]
        r = self.server.request("PUT", f"/v1/images/{self.image}/transform",
                                json.dumps({"resizeWidth": 200, "format": "avif"}),
                                {"Content-Type": "application/json"}, key=key)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.json()["format"], "avif")
        self.assertIn("format=avif", r.json()["variantUrl"])
        raw = self.server.request("PUT", f"/v1/images/{self.image}/transform",
                                  json.dumps({"resizeWidth": 200, "format": "webp"}),
                                  {"Content-Type": "application/json", "Accept": "image/webp"},
                                  key=key)
        self.assertEqual((raw.status, kind(raw.body)), (200, "image/webp"))
        bad = self.server.request("PUT", f"/v1/images/{self.image}/transform",
                                  json.dumps({"resizeWidth": 200, "format": "png"}),
                                  {"Content-Type": "application/json"}, key=key)
        self.assertProblem(bad, 400)
        # A link keeps format=auto: its reader's Accept decides.
        link = self.server.request("GET", f"/v1/images/{self.image}/url?w=200&format=auto",
                                   key=key).json()
        self.assertIn("format=auto", link["url"])


class AvifLimitTest(unittest.TestCase):
    def test_avif_has_its_own_size_limit(self):
        server = Server(extra_args=["--max-avif-pixels", "200000"]).start()
        try:
            user = server.create_user("avif")
            image = server.upload(corpus_bytes(PHOTO), user["apiKey"]).json()["imageId"]
            path = f"/v1/images/{image}/content"
            r = server.request("GET", path + "?w=800&format=avif")  # 800x500 = 400k pixels
            self.assertEqual(r.status, 400)
            problem = r.json()
            self.assertEqual((problem["type"], problem["parameter"]),
                             ("/problems/output-too-large", "format"))
            self.assertEqual(server.request("GET", path + "?w=800&format=webp").status, 200)
            self.assertEqual(server.request("GET", path + "?w=400&format=avif").status, 200)
            # format=auto asks for what the limit allows, too: AVIF is refused, not swapped.
            auto = server.request("GET", path + "?w=800&format=auto",
                                  headers={"Accept": "image/avif"})
            self.assertEqual(auto.status, 400)
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
