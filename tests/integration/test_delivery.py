"""Signed delivery and per-image visibility: private images need a signed URL or the owner's
key; --signed-delivery makes every content URL need one; tampered, expired or forged
signatures get 403 problem+json; keys rotate by id. On pg_s3 the requests alternate between
two nodes, so a URL signed by one node is verified by the other (the key lives in the
shared database)."""
import base64
import hashlib
import hmac
import json
import time
import unittest
import urllib.parse

from harness import Server, ServerTest, corpus_bytes

PHOTO = "real/real_01_skagen_800x533.jpg"
OTHER = "real/real_02_honeybee_1620x1280.jpg"
KEY_1 = ("t1", "test-secret-one-0123456789")
KEY_2 = ("t2", "test-secret-two-0123456789")


def path_query(url):
    """The request target (path and query) of an absolute URL the API returned."""
    u = urllib.parse.urlsplit(url)
    return u.path + ("?" + u.query if u.query else "")


def params(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


def sign(path, query, expires, key):
    """The documented format (docs/api.md#signed-delivery), computed independently."""
    q = dict(query, expires=str(expires), kid=key[0])
    enc = lambda s: urllib.parse.quote(s, safe="-._~")
    canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(q.items()))
    mac = hmac.new(key[1].encode(), f"imgd-content-v1\n{path}?{canonical}".encode(),
                   hashlib.sha256).digest()
    sig = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    return path + "?" + canonical + "&sig=" + sig


class VisibilityTest(ServerTest):
    # Visibility changes take effect at once on every node (no cached image records).
    server_args = ("--image-cache-ttl", "0")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls.server.create_user("alice")["apiKey"]
        cls.bob = cls.server.create_user("bob")["apiKey"]
        cls.photo = corpus_bytes(PHOTO)
        r = cls.server.upload(cls.photo, cls.alice, "?visibility=private")
        assert r.status == 201, r.body
        cls.private = r.json()
        r = cls.server.upload(corpus_bytes(OTHER), cls.alice)
        assert r.status == 201, r.body
        cls.public = r.json()

    def content(self, image_id):
        return f"/v1/images/{image_id}/content"

    def test_private_image_needs_a_signature_or_the_owner(self):
        img = self.private
        self.assertEqual(img["visibility"], "private")
        p = params(img["imageUrl"])
        self.assertEqual(set(p), {"expires", "kid", "sig"})
        self.assertGreater(int(p["expires"]), time.time() + 3000)
        # No credentials, another user's key, a wrong key.
        self.assertProblem(self.server.request("GET", self.content(img["imageId"])), 403,
                           "signature-required")
        self.assertProblem(self.server.request("GET",
                                               self.content(img["imageId"]), key=self.bob), 403)
        self.assertProblem(self.server.request("GET", self.content(img["imageId"]),
                                               key="imgd_" + "x" * 43), 401)
        # The owner's key: private, revalidated.
        r = self.server.request("GET", self.content(img["imageId"]), key=self.alice)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, self.photo)
        self.assertEqual(r.header("cache-control"), "private, no-cache")
        # The signed imageUrl, no key: a private cache may keep it until the URL expires.
        r = self.server.request("GET", path_query(img["imageUrl"]))
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.body, self.photo)
        cc = r.header("cache-control")
        self.assertTrue(cc.startswith("private, max-age="), cc)
        self.assertLessEqual(int(cc.split("=")[1]), int(p["expires"]) - time.time() + 2)
        # 304, HEAD and Range work on signed URLs too.
        etag = r.header("etag")
        r = self.server.request("GET", path_query(img["imageUrl"]), headers={"If-None-Match": etag})
        self.assertEqual(r.status, 304)
        self.assertTrue(r.header("cache-control").startswith("private, max-age="))
        r = self.server.request("HEAD", path_query(img["imageUrl"]))
        self.assertEqual((r.status, r.header("content-length")), (200, str(len(self.photo))))
        r = self.server.request("GET", path_query(img["imageUrl"]), headers={"Range": "bytes=0-9"})
        self.assertEqual((r.status, r.body), (206, self.photo[:10]))
        # A 304 is no way around the check either.
        r = self.server.request("GET", self.content(img["imageId"]), headers={"If-None-Match": etag})
        self.assertProblem(r, 403, "signature-required")

    def test_tampered_signatures_are_refused(self):
        img = self.private
        target = path_query(img["imageUrl"])
        p = params(img["imageUrl"])
        path = self.content(img["imageId"])
        flipped = p["sig"][:-1] + ("A" if p["sig"][-1] != "A" else "B")
        cases = {
            "signature-invalid": [
                path + "?" + urllib.parse.urlencode(dict(p, sig=flipped)),
                path + "?" + urllib.parse.urlencode(dict(p, expires=str(int(p["expires"]) + 1))),
                target + "&w=100",  # a parameter the signature does not cover
                self.content(self.public["imageId"]) + "?" + urllib.parse.urlencode(p),
                path + "?" + urllib.parse.urlencode(dict(p, kid="nope")),
            ],
            "signature-malformed": [
                path + "?" + urllib.parse.urlencode({"sig": p["sig"]}),
                path + "?" + urllib.parse.urlencode(dict(p, expires="soon")),
            ],
        }
        for slug, targets in cases.items():
            for t in targets:
                with self.subTest(target=t):
                    # Even with the owner's key: a bad signature is never ignored.
                    self.assertProblem(self.server.request("GET", t), 403, slug)
                    self.assertProblem(self.server.request("GET", t, key=self.alice), 403, slug)
        # A forged signature on a public image is refused too.
        r = self.server.request("GET", self.content(self.public["imageId"]) +
                                "?expires=9999999999&kid=d0&sig=" + "A" * 43)
        self.assertProblem(r, 403, "signature-invalid")

    def test_variant_urls_are_signed_per_size(self):
        img = self.private
        r = self.server.request("PUT", f"/v1/images/{img['imageId']}/transform",
                                json.dumps({"resizeWidth": 120, "resizeHeight": 80}),
                                {"Content-Type": "application/json"}, key=self.alice)
        self.assertEqual(r.status, 200, r.body[:300])
        url = r.json()["variantUrl"]
        self.assertEqual({k for k in params(url)},
                         {"w", "h", "fit", "q", "expires", "kid", "sig"})
        v = self.server.request("GET", path_query(url))
        self.assertEqual(v.status, 200, v.body[:300])
        self.assertEqual(v.header("content-type"), "image/jpeg")
        self.assertEqual(v.body, base64.b64decode(r.json()["imageData"]))
        # The signature is for that size only.
        other = path_query(url).replace("w=120", "w=121")
        self.assertProblem(self.server.request("GET", other), 403, "signature-invalid")
        # Unsigned variant of a private image: refused before any transform.
        self.assertProblem(self.server.request("GET", self.content(img["imageId"]) + "?w=50"),
                           403, "signature-required")
        # The owner may ask any size with the key.
        self.assertEqual(self.server.request("GET", self.content(img["imageId"]) + "?w=50",
                                             key=self.alice).status, 200)

    def test_public_image_is_open_and_visibility_can_change(self):
        img = self.public
        self.assertEqual(img["visibility"], "public")
        self.assertNotIn("?", img["imageUrl"])
        r = self.server.request("GET", self.content(img["imageId"]))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("cache-control"), "public, max-age=3600, s-maxage=31536000, stale-while-revalidate=60, stale-if-error=86400")
        # Another user cannot change it.
        change = lambda v, key: self.server.request(
            "PATCH", f"/v1/images/{img['imageId']}", json.dumps({"visibility": v}),
            {"Content-Type": "application/json"}, key=key)
        self.assertProblem(change("private", self.bob), 403)
        r = change("private", self.alice)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["visibility"], "private")
        self.assertIn("sig=", r.json()["imageUrl"])
        self.assertProblem(self.server.request("GET", self.content(img["imageId"])), 403,
                           "signature-required")
        self.assertEqual(self.server.request("GET", path_query(r.json()["imageUrl"])).status, 200)
        self.assertEqual(change("public", self.alice).status, 200)
        self.assertEqual(self.server.request("GET", self.content(img["imageId"])).status, 200)
        self.assertProblem(change("secret", self.alice), 400)
        listed = self.server.request("GET", "/v1/images", key=self.alice).json()["images"]
        self.assertEqual({i["imageId"]: i["visibility"] for i in listed
                          if i["imageId"] in (img["imageId"], self.private["imageId"])},
                         {img["imageId"]: "public", self.private["imageId"]: "private"})

    def test_every_upload_flow_takes_visibility(self):
        key = self.server.create_user("flows")["apiKey"]
        data = corpus_bytes("real/real_03_storm_1920x1280.jpg")
        r = self.server.upload_multipart(data, key, {"visibility": "private"})
        self.assertEqual((r.status, r.json()["visibility"]), (201, "private"), r.body)
        self.assertProblem(self.server.upload(data, key, "?visibility=hidden"), 400)
        self.assertProblem(self.server.upload_multipart(data, key, {"visibility": "x"}), 400)
        # The seed's pre-signed flow: the pending record carries it to the ready image.
        r = self.server.request("POST", "/v1/images", json.dumps(
            {"imageName": "p", "format": "jpg", "size": len(self.photo), "visibility": "private"}),
            {"Content-Type": "application/json"}, key=key)
        self.assertEqual(r.status, 201, r.body)
        done = self.server.request("PUT", path_query(r.json()["preSignedUrl"]), self.photo,
                                   {"Content-Type": "image/jpeg"})
        self.assertEqual(done.status, 200, done.body)
        self.assertEqual(done.json()["visibility"], "private")
        self.assertProblem(self.server.request("GET", self.content(done.json()["imageId"])), 403)
        # tus: Upload-Metadata visibility.
        meta = "visibility " + base64.b64encode(b"private").decode()
        r = self.server.request("POST", "/v1/uploads", b"", {
            "Tus-Resumable": "1.0.0", "Upload-Length": str(len(self.photo)),
            "Upload-Metadata": meta}, key=key)
        self.assertEqual(r.status, 201, r.body)
        loc = urllib.parse.urlsplit(r.header("location")).path
        r = self.server.request("PATCH", loc, self.photo, {
            "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream"}, key=key)
        self.assertEqual(r.status, 200, r.body)  # the last chunk answers with the image
        self.assertEqual(r.json()["visibility"], "private")
        self.assertIn("sig=", r.json()["imageUrl"])
        r = self.server.request("POST", "/v1/uploads", b"", {
            "Tus-Resumable": "1.0.0", "Upload-Length": "10",
            "Upload-Metadata": "visibility " + base64.b64encode(b"everyone").decode()}, key=key)
        self.assertProblem(r, 400)


class SignedDeliveryTest(unittest.TestCase):
    def start(self, keys, data_dir=None):
        return Server(data_dir=data_dir, extra_args=[
            "--signed-delivery", "true", "--signed-url-ttl", "120", "--image-cache-ttl", "0"],
            env={"IMGD_DELIVERY_SIGNING_KEYS": ",".join(f"{k}:{s}" for k, s in keys)}).start()

    def test_every_content_url_needs_a_signature_and_keys_rotate(self):
        server = self.start([KEY_1])
        try:
            key = server.create_user("signed")["apiKey"]
            photo = corpus_bytes(PHOTO)
            img = server.upload(photo, key).json()
            self.assertEqual(img["visibility"], "public")
            path = f"/v1/images/{img['imageId']}/content"
            r = server.request("GET", path)
            self.assertEqual(r.status, 403)
            self.assertEqual(r.json()["type"], "/problems/signature-required")
            # The API's URL, and one made here from the documented format, both work.
            p = params(img["imageUrl"])
            self.assertEqual(p["kid"], "t1")
            self.assertLessEqual(int(p["expires"]), time.time() + 120 + 60 + 5)
            r = server.request("GET", path_query(img["imageUrl"]))
            self.assertEqual((r.status, r.body), (200, photo))
            cc = r.header("cache-control")
            self.assertTrue(cc.startswith("public, max-age="), cc)
            self.assertLessEqual(int(cc.split("=")[1]), 185)
            mine = sign(path, {"w": "64"}, int(time.time()) + 60, KEY_1)
            r = server.request("GET", mine)
            self.assertEqual(r.status, 200, r.body[:300])
            # Expired: 403 with its own type; the owner's key still reads.
            expired = sign(path, {}, int(time.time()) - 1, KEY_1)
            r = server.request("GET", expired)
            self.assertEqual((r.status, r.json()["type"]), (403, "/problems/signature-expired"))
            self.assertEqual(server.request("GET", path, key=key).status, 200)
            # Rotation: t2 signs, t1 still verifies...
            server.stop()
            for n in server.nodes:
                n.env["IMGD_DELIVERY_SIGNING_KEYS"] = f"{KEY_2[0]}:{KEY_2[1]},{KEY_1[0]}:{KEY_1[1]}"
            server.start()
            self.assertEqual(server.request("GET", mine).status, 200)
            fresh = server.request("GET", f"/v1/images/{img['imageId']}", key=key).json()
            self.assertEqual(params(fresh["imageUrl"])["kid"], "t2")
            self.assertEqual(server.request("GET", path_query(fresh["imageUrl"])).status, 200)
            # ...until it is dropped.
            server.stop()
            for n in server.nodes:
                n.env["IMGD_DELIVERY_SIGNING_KEYS"] = f"{KEY_2[0]}:{KEY_2[1]}"
            server.start()
            r = server.request("GET", mine)
            self.assertEqual((r.status, r.json()["type"]), (403, "/problems/signature-invalid"))
            self.assertEqual(server.request("GET", path_query(fresh["imageUrl"])).status, 200)
        finally:
            server.cleanup()

    def test_default_key_is_shared_through_the_database(self):
        # No keys configured: one is made once and kept in the metadata store, so every node
        # (and a restart) verifies what any node signed.
        server = Server(extra_args=["--signed-delivery", "true"]).start()
        try:
            key = server.create_user("dbkey")["apiKey"]
            img = server.upload(corpus_bytes(PHOTO), key).json()
            self.assertEqual(params(img["imageUrl"])["kid"], "d0")
            for _ in range(4):  # alternating nodes on pg_s3
                self.assertEqual(server.request("GET", path_query(img["imageUrl"])).status, 200)
            server.stop()
            server.start()
            self.assertEqual(server.request("GET", path_query(img["imageUrl"])).status, 200)
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
