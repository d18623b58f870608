"""Two stateless imgd nodes behind one PostgreSQL and one S3 engine (Swift s3api), all real
servers on 127.0.0.1 started here and stopped afterwards: what one node writes the other
serves, races across nodes end as on one node, and a store outage is a 503 that heals."""
import json
import os
import re
import socket
import subprocess
import sys
import time
import unittest
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

from harness import ADMIN_KEY, Server, corpus_bytes, sha256

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "engines"))
from engines import Engines  # noqa: E402

PHOTO = "real/real_03_storm_1920x1280.jpg"


def store_calls(metrics_text, op):
    """How many metadata-store calls of one statement kind a node has finished."""
    total = 0.0
    for m in re.finditer(r'^imgd_store_operation_duration_seconds_count\{([^}]*)\} (\S+)$',
                         metrics_text, re.M):
        if f'op="{op}"' in m.group(1):
            total += float(m.group(2))
    return total


class TwoNodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.engines = Engines().start()
        db = "imgd_" + uuid.uuid4().hex[:8]
        subprocess.run(["psql", "-h", "127.0.0.1",
                        "-p", str(cls.engines.pg.port), "-U", "imgd", "-d", "postgres", "-qc",
                        f"CREATE DATABASE {db}"], check=True, capture_output=True)
        cls.meta = cls.engines.pg.url.rsplit("/", 1)[0] + "/" + db
        cls.blob = cls.engines.s3.url + "&prefix=" + db + "&presign=imgd"
        args = ["--meta", cls.meta, "--blob", cls.blob]
        env = cls.engines.env()
        cls.a = Server(extra_args=args, env=env).start()
        cls.b = Server(extra_args=args, env=env).start()
        cls.key = cls.a.create_user("dist")["apiKey"]

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()
        cls.b.cleanup()
        cls.engines.stop()

    def node(self, i):
        return self.a if i % 2 == 0 else self.b

    def test_what_one_node_writes_the_other_serves(self):
        data = corpus_bytes(PHOTO)
        up = self.a.upload(data, self.key, query="?imageName=across")
        self.assertEqual(up.status, 201, up.body)
        img = up.json()
        got = self.b.request("GET", "/v1/images/" + img["imageId"], key=self.key)
        self.assertEqual(got.json()["sha256"], sha256(data))
        content = self.b.request("GET", f"/v1/images/{img['imageId']}/content")
        self.assertEqual(content.status, 200)
        self.assertEqual(content.body, data)
        rng = self.b.request("GET", f"/v1/images/{img['imageId']}/content",
                             headers={"Range": "bytes=100-199"})
        self.assertEqual((rng.status, rng.body), (206, data[100:200]))
        # A variant made on one node is stored in S3 and served with the same ETag by the other.
        v1 = self.a.request("GET", f"/v1/images/{img['imageId']}/content?w=200&h=200")
        self.assertEqual(v1.status, 200)
        v2 = self.b.request("GET", f"/v1/images/{img['imageId']}/content?w=200&h=200",
                            headers={"If-None-Match": v1.header("etag")})
        self.assertEqual(v2.status, 304)
        v3 = self.b.request("GET", f"/v1/images/{img['imageId']}/content?w=200&h=200")
        self.assertEqual(v3.body, v1.body)
        listed = self.b.request("GET", "/v1/images", key=self.key).json()["images"]
        self.assertIn(img["imageId"], [i["imageId"] for i in listed])
        # Delete on the other node: gone everywhere.
        self.assertEqual(self.b.request("DELETE", "/v1/images/" + img["imageId"],
                                        key=self.key).status, 204)
        self.assertEqual(self.a.request("GET", f"/v1/images/{img['imageId']}/content").status,
                         404)

    def test_sixteen_identical_uploads_on_two_nodes_make_one_image(self):
        key = self.a.create_user("race")["apiKey"]
        data = corpus_bytes("real/real_05_wood_2560x1920.jpg")
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda i: self.node(i).upload(data, key), range(16)))
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, [200] * 15 + [201], [r.body[:200] for r in results])
        self.assertEqual(len({r.json()["imageId"] for r in results}), 1)
        listed = self.b.request("GET", "/v1/images", key=key).json()["images"]
        self.assertEqual(len(listed), 1)

    def test_presigned_and_idempotent_flows_span_nodes(self):
        data = corpus_bytes("real/real_01_skagen_800x533.jpg")
        r = self.a.request("POST", "/v1/images", json.dumps({"size": len(data)}),
                           {"Content-Type": "application/json"}, key=self.key)
        self.assertEqual(r.status, 201, r.body)
        path = urllib.parse.urlsplit(r.json()["preSignedUrl"]).path
        done = self.b.request("PUT", path, data, {"Content-Type": "image/jpeg"})
        self.assertEqual(done.status, 200, done.body)
        h = {"Content-Type": "image/jpeg", "Idempotency-Key": "dist-" + uuid.uuid4().hex}
        first = self.a.request("POST", "/v1/images?onDuplicate=new", data, h, key=self.key)
        again = self.b.request("POST", "/v1/images?onDuplicate=new", data, h, key=self.key)
        self.assertEqual(first.status, 201)
        self.assertEqual(again.body, first.body)
        self.assertEqual(again.header("idempotent-replayed"), "true")

    def test_presigned_upload_straight_to_the_bucket(self):
        # The S3 store's default: pre-signed uploads go straight to the bucket.
        node = Server(extra_args=["--meta", self.meta,
                                  "--blob", self.blob.replace("&presign=imgd", "")],
                      env=self.engines.env(), nodes=1).start()
        try:
            data = corpus_bytes("real/real_06_after_the_rain_3000x1993.jpg")
            r = node.request("POST", "/v1/images", json.dumps({"imageName": "direct",
                                                               "size": len(data)}),
                             {"Content-Type": "application/json"}, key=self.key)
            self.assertEqual(r.status, 201, r.body)
            created = r.json()
            url = urllib.parse.urlsplit(created["preSignedUrl"])
            self.assertEqual(url.port, self.engines.s3.ports["proxy"])  # the bucket, not imgd
            self.assertIn("X-Amz-Signature=", url.query)
            complete = urllib.parse.urlsplit(created["completeUrl"]).path
            # Completing before the bytes arrived.
            early = node.request("POST", complete, key=self.key)
            self.assertEqual(early.status, 409, early.body)
            self.assertEqual(early.json()["type"], "/problems/upload-missing")
            # The client PUTs to the bucket with no credentials but the URL's.
            import http.client
            c = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
            c.request("PUT", url.path + "?" + url.query, body=data)
            put = c.getresponse()
            put.read()
            c.close()
            self.assertEqual(put.status, 200)
            # Another user cannot complete it; the owner can, once.
            other = node.create_user("intruder")["apiKey"]
            self.assertEqual(node.request("POST", complete, key=other).status, 403)
            done = node.request("POST", complete, key=self.key)
            self.assertEqual(done.status, 200, done.body)
            self.assertEqual(done.json()["status"], "ready")
            self.assertEqual(done.json()["sha256"], sha256(data))
            self.assertEqual(node.request("POST", complete, key=self.key).status, 409)
            got = self.b.request("GET", f"/v1/images/{created['imageId']}/content")
            self.assertEqual(got.body, data)
            # A declared hash: known bytes need no upload; others must match it on completion.
            known = node.request("POST", "/v1/images", json.dumps(
                {"size": len(data), "sha256": sha256(data)}),
                {"Content-Type": "application/json"}, key=self.key)
            self.assertEqual(known.status, 200, known.body)
            self.assertEqual(known.json()["imageId"], created["imageId"])
            other_data = corpus_bytes("real/real_07_chameleon_1306x1530.jpg")
            r = node.request("POST", "/v1/images", json.dumps(
                {"size": len(other_data), "sha256": sha256(b"not these bytes")}),
                {"Content-Type": "application/json"}, key=self.key).json()
            url = urllib.parse.urlsplit(r["preSignedUrl"])
            c = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
            c.request("PUT", url.path + "?" + url.query, body=other_data)
            c.getresponse().read()
            c.close()
            complete_url = urllib.parse.urlsplit(r["completeUrl"])
            mismatch = node.request("POST", complete_url.path + "?" + complete_url.query,
                                    key=self.key)
            self.assertEqual(mismatch.status, 422, mismatch.body)
            self.assertEqual(mismatch.json()["type"], "/problems/sha256-mismatch")
            # The declared size is part of the URL's signature: the bucket itself refuses a
            # PUT of any other length, so staging never holds more than was allowed.
            r = node.request("POST", "/v1/images", json.dumps({"size": len(data) + 1}),
                             {"Content-Type": "application/json"}, key=self.key).json()
            url = urllib.parse.urlsplit(r["preSignedUrl"])
            self.assertIn("content-length", urllib.parse.parse_qs(url.query)["X-Amz-SignedHeaders"][0])
            for body in (data, data * 3):
                c = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
                c.request("PUT", url.path + "?" + url.query, body=body)
                refused = c.getresponse()
                refused.read()
                c.close()
                self.assertEqual(refused.status, 403)
            bad = node.request("POST", urllib.parse.urlsplit(r["completeUrl"]).path,
                               key=self.key)
            self.assertEqual(bad.json()["type"], "/problems/upload-missing")
        finally:
            node.cleanup()

    def test_a_bucket_upload_replaced_while_completing_commits_what_was_checked(self):
        # The client PUTs other bytes to its URL while imgd hashes and validates the first:
        # the commit copies only the version that was read (x-amz-copy-source-if-match), so
        # the image is either refused (409 upload-changed) or holds exactly the bytes whose
        # hash it records.
        node = Server(extra_args=["--meta", self.meta,
                                  "--blob", self.blob.replace("&presign=imgd", "")],
                      env=self.engines.env(), nodes=1).start()
        import http.client
        first = corpus_bytes("variants/v32_bench_24mp_upscaled_from_real09_6532x3675.jpg")
        second = first[:100] + bytes([first[100] ^ 1]) + first[101:]  # same size, other bytes
        outcomes = []
        try:
            for _ in range(4):
                created = node.request("POST", "/v1/images", json.dumps({"size": len(first)}),
                                       {"Content-Type": "application/json"}, key=self.key).json()
                url = urllib.parse.urlsplit(created["preSignedUrl"])

                def put(body):
                    c = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
                    c.request("PUT", url.path + "?" + url.query, body=body)
                    status = c.getresponse().status
                    c.close()
                    return status

                self.assertEqual(put(first), 200)
                with ThreadPoolExecutor(1) as pool:
                    done = pool.submit(node.request, "POST",
                                       urllib.parse.urlsplit(created["completeUrl"]).path,
                                       None, None, self.key)
                    self.assertEqual(put(second), 200)  # lands during the completion
                    r = done.result()
                if r.status == 409:
                    self.assertEqual(r.json()["type"], "/problems/upload-changed")
                    outcomes.append("refused")
                    continue
                self.assertEqual(r.status, 200, r.body)
                image = r.json()
                if image["imageId"] != created["imageId"]:
                    # The bytes were an earlier round's, already this user's image: the
                    # answer is that image (onDuplicate=return) and the pending one is gone.
                    self.assertTrue(image.get("duplicate"), image)
                    gone = node.request("GET", f"/v1/images/{created['imageId']}", key=self.key)
                    self.assertEqual(gone.status, 404)
                got = node.request("GET", f"/v1/images/{image['imageId']}/content")
                self.assertEqual(got.status, 200)
                self.assertEqual(sha256(got.body), image["sha256"])
                outcomes.append("duplicate" if image.get("duplicate") else "committed")
        finally:
            node.cleanup()
        print("\nreplaced while completing:", outcomes)

    def test_delete_on_one_node_and_upload_on_the_other_never_lose_the_bytes(self):
        # The same bytes go to zero references on one node while the other records them
        # again: the record must never point at bytes the remover took (issue 13).
        data = corpus_bytes("real/real_01_skagen_800x533.jpg")
        # Two users, one per node: the bytes' references drop to zero whenever both are
        # between a delete and their next upload.
        keys = [self.a.create_user(f"race{i}")["apiKey"] for i in range(2)]
        lost, retried = [], []

        def loop(node, key, rounds=150):
            for _ in range(rounds):
                up = node.upload(data, key)
                if up.status == 503:
                    retried.append(up.json()["detail"])
                    continue  # the store asked for a retry; nothing was recorded
                self.assertIn(up.status, (200, 201), up.body)
                image_id = up.json()["imageId"]
                got = node.request("GET", f"/v1/images/{image_id}/content")
                if got.status != 200 or got.body != data:
                    lost.append((image_id, got.status))
                node.request("DELETE", f"/v1/images/{image_id}", key=key)

        with ThreadPoolExecutor(2) as pool:
            for f in [pool.submit(loop, self.node(i), key) for i, key in enumerate(keys)]:
                f.result()
        self.assertEqual(lost, [])
        self.assertLess(len(retried), 30, retried[:3])  # of 300 uploads
        # What is left afterwards is whole on both nodes.
        kept = [self.b.upload(data, k).json()["imageId"] for k in keys]
        for image_id in kept:
            for node in (self.a, self.b):
                got = node.request("GET", f"/v1/images/{image_id}/content")
                self.assertEqual((got.status, got.body), (200, data))

    def test_readyz_and_admin_key_shared(self):
        for n in (self.a, self.b):
            r = n.request("GET", "/readyz")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["stores"], {"meta": "ok", "blob": "ok"})
        # Both nodes started with the same admin key; the database holds one admin.
        r = self.b.request("GET", "/v1/users/me", key=ADMIN_KEY)
        self.assertTrue(r.json()["isAdmin"])

    def test_zz_database_outage_is_a_503_that_heals(self):
        data = corpus_bytes("real/real_02_honeybee_1620x1280.jpg")
        img = self.a.upload(data, self.key).json()
        self.engines.pg.stop()
        try:
            started = time.monotonic()
            r = self.b.request("GET", "/v1/images/" + img["imageId"], key=self.key)
            self.assertEqual(r.status, 503, r.body)
            self.assertTrue(r.header("retry-after"))
            self.assertLess(time.monotonic() - started, 15)
            ready = self.a.request("GET", "/readyz")
            self.assertEqual(ready.status, 503)
            # Which store, never the driver's text (hosts, ports, users); that is logged.
            self.assertEqual(ready.json()["stores"], {"meta": "unavailable", "blob": "ok"})
            self.assertIn("meta", ready.json()["detail"])
            for leak in (str(self.engines.pg.port), "127.0.0.1", "connection", "server"):
                self.assertNotIn(leak, ready.body.decode())
            with open(self.a.stderr_path) as log:
                self.assertIn("readiness check failed", log.read())
            # The liveness probe does not depend on the stores.
            self.assertEqual(self.a.request("GET", "/healthz").status, 200)
        finally:
            self.engines.pg.start_again()
        r = self.b.request("GET", "/v1/images/" + img["imageId"], key=self.key)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.a.request("GET", f"/v1/images/{img['imageId']}/content").body, data)

    def test_zz_resumable_upload_keeps_its_bytes_when_the_record_step_fails(self):
        # The database goes away while the last chunk arrives: the bytes stay (HEAD reports
        # them all once it is back) and an empty PATCH at the end records the image with the
        # right hash. Both blob stores: S3 (node A) and files (a node on PostgreSQL only).
        photos = [corpus_bytes("real/real_02_honeybee_1620x1280.jpg"),
                  corpus_bytes("real/real_04_colorfulcups_2560x1600.jpg")]
        # Its own database: blob rows describe one blob store's contents.
        db = "imgd_files_" + uuid.uuid4().hex[:8]
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.engines.pg.port), "-U", "imgd",
                        "-d", "postgres", "-qc", f"CREATE DATABASE {db}"], check=True,
                       capture_output=True)
        on_files = Server(extra_args=["--meta", self.meta.rsplit("/", 1)[0] + "/" + db],
                          env=self.engines.env(), nodes=1).start()
        files_key = on_files.create_user("files")["apiKey"]
        tus = {"Tus-Resumable": "1.0.0"}
        try:
            for node, key, data in ((self.a, self.key, photos[0]),
                                    (on_files, files_key, photos[1])):
                deadline = time.monotonic() + 60
                while True:  # a node's database connections heal after the previous restart
                    up = node.request("POST", "/v1/uploads", b"",
                                      dict(tus, **{"Upload-Length": str(len(data))}),
                                      key=key)
                    if up.status != 503 or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)  # polling a condition with a deadline
                self.assertEqual(up.status, 201, up.body)
                path = urllib.parse.urlsplit(up.header("location")).path
                head = dict(tus, **{"Content-Type": "application/offset+octet-stream"})
                cut = len(data) - 1000
                r = node.request("PATCH", path, data[:cut], dict(head, **{"Upload-Offset": "0"}),
                                 key=key)
                self.assertEqual(r.status, 204, r.body)
                # The database must go away only once the server is past the calls that
                # precede reading the body (the owner check, the lease, the re-read under it):
                # counted by its store metrics, not guessed with a delay.
                reads_before = store_calls(node.metrics(), "select uploads")
                s = socket.create_connection(("127.0.0.1", node.port), timeout=60)
                s.sendall((f"PATCH {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                           f"{key}\r\nTus-Resumable: 1.0.0\r\nContent-Type: "
                           f"application/offset+octet-stream\r\nUpload-Offset: {cut}\r\n"
                           f"Content-Length: 1000\r\nConnection: close\r\n\r\n").encode()
                          + data[cut:cut + 500])
                deadline = time.monotonic() + 30
                while store_calls(node.metrics(), "select uploads") < reads_before + 2:
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.01)  # polling a condition with a deadline
                self.engines.pg.stop()
                try:
                    s.sendall(data[cut + 500:])
                    reply = s.recv(65536)
                    self.assertTrue(reply.startswith(b"HTTP/1.1 503"), reply[:300])
                finally:
                    s.close()
                    self.engines.pg.start_again()
                deadline = time.monotonic() + 60
                while True:  # the circuit breaker lets a probe through after its cooldown
                    h = node.request("HEAD", path, None, tus, key=key)
                    if h.status == 200 or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)  # polling a condition with a deadline
                self.assertEqual(h.status, 200)
                self.assertEqual(h.header("upload-offset"), str(len(data)))
                done = node.request("PATCH", path, b"",
                                    dict(head, **{"Upload-Offset": str(len(data))}), key=key)
                self.assertEqual(done.status, 200, done.body)
                self.assertEqual(done.json()["sha256"], sha256(data))
                got = node.request("GET", f"/v1/images/{done.json()['imageId']}/content")
                self.assertEqual(got.body, data)
        finally:
            on_files.cleanup()

    def test_zz_object_store_outage_is_a_503_and_cached_variants_still_serve(self):
        data = corpus_bytes("real/real_07_chameleon_1306x1530.jpg")
        img = self.a.upload(data, self.key).json()
        variant = f"/v1/images/{img['imageId']}/content?w=120&h=120"
        made = self.a.request("GET", variant)
        self.assertEqual(made.status, 200)
        self.engines.s3.stop_proxy()
        try:
            started = time.monotonic()
            r = self.a.request("GET", f"/v1/images/{img['imageId']}/content")
            self.assertEqual(r.status, 503, r.body[:300])
            self.assertTrue(r.header("retry-after"))
            self.assertLess(time.monotonic() - started, 15)
            # The variant is in node A's memory cache: reads of it do not need S3.
            cached = self.a.request("GET", variant)
            self.assertEqual((cached.status, cached.body), (200, made.body))
            # Metadata lives in PostgreSQL, which is up.
            self.assertEqual(self.b.request("GET", "/v1/images/" + img["imageId"],
                                            key=self.key).status, 200)
            ready = self.b.request("GET", "/readyz")
            self.assertEqual(ready.status, 503)
            self.assertEqual(ready.json()["stores"], {"meta": "ok", "blob": "unavailable"})
            self.assertNotIn("127.0.0.1", ready.body.decode())
            # After repeated failures the circuit opens: no more connection attempts, an
            # immediate 503.
            for _ in range(5):
                self.a.request("GET", f"/v1/images/{img['imageId']}/content")
            self.assertIn("\nimgd_blob_circuit_state 1\n", self.a.metrics())
            started = time.monotonic()
            r = self.a.request("GET", f"/v1/images/{img['imageId']}/content")
            self.assertEqual(r.status, 503)
            self.assertLess(time.monotonic() - started, 0.5)
        finally:
            self.engines.s3.start_proxy()
        r = self.b.request("GET", f"/v1/images/{img['imageId']}/content")
        self.assertEqual((r.status, r.body), (200, data))
        # Node A's circuit lets a probe through after its cooldown and closes again.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = self.a.request("GET", f"/v1/images/{img['imageId']}/content")
            if r.status == 200:
                break
            time.sleep(0.2)
        self.assertEqual((r.status, r.body), (200, data))
        self.assertIn("\nimgd_blob_circuit_state 0\n", self.a.metrics())


if __name__ == "__main__":
    unittest.main()
