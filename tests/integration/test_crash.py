"""kill -9 while 8 clients upload: every acknowledged upload survives intact, and gc leaves
no orphan blob or temp file."""
import os
import signal
import struct
import threading
import unittest
import uuid

from harness import Server, corpus_bytes, sha256

ROUNDS = 4
UPLOADS_BEFORE_KILL = 60
CLIENTS = 8


def unique_jpeg(base):
    """base with a random COM segment: distinct bytes, same picture."""
    tag = uuid.uuid4().hex.encode() * 64
    return base[:2] + b"\xff\xfe" + struct.pack(">H", len(tag) + 2) + tag + base[2:]


class CrashSafetyTest(unittest.TestCase):
    def test_kill_9_during_uploads(self):
        server = Server().start()
        base = corpus_bytes("variants/v01_baseline_q85_420.jpg")
        key = server.create_user("crash")["apiKey"]
        acknowledged = {}  # imageId -> sha256 of what the server said it stored
        lock = threading.Lock()
        try:
            for round_no in range(ROUNDS):
                enough = threading.Event()
                stop = threading.Event()
                count = [0]

                def client():
                    while not stop.is_set():
                        data = unique_jpeg(base)
                        try:
                            r = server.upload(data, key)
                        except OSError:
                            return  # the server died under us
                        if 200 <= r.status < 300:
                            img = r.json()
                            self.assertEqual(img["sha256"], sha256(data))
                            with lock:
                                acknowledged[img["imageId"]] = img["sha256"]
                                count[0] += 1
                                if count[0] >= UPLOADS_BEFORE_KILL:
                                    enough.set()
                        elif r.status != 503:
                            self.fail(f"unexpected {r.status}: {r.body[:300]}")

                threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
                for t in threads:
                    t.start()
                self.assertTrue(enough.wait(timeout=120), "uploads did not progress")
                os.kill(server.pid(), signal.SIGKILL)  # uploads are in flight right now
                server.stop()
                stop.set()
                for t in threads:
                    t.join(timeout=120)
                server.start()
                # Everything acknowledged so far is intact and byte-identical.
                for image_id, digest in acknowledged.items():
                    r = server.request("GET", f"/v1/images/{image_id}/content")
                    self.assertEqual(r.status, 200, (round_no, image_id))
                    self.assertEqual(sha256(r.body), digest)
            server.stop()
            out = server.gc(grace=0)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(server.temp_files(), [])
            rows = server.blobs()
            image_shas = [sha for _, sha, _ in server.images()]
            on_disk = {os.path.basename(p) for p in server.blob_files()}
            self.assertEqual(on_disk, set(rows))  # no orphan bytes, no missing bytes
            self.assertEqual(set(image_shas), set(rows))
            for digest, refs in rows.items():
                self.assertEqual(refs, image_shas.count(digest))
            self.assertGreaterEqual(len(acknowledged), ROUNDS * UPLOADS_BEFORE_KILL)
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
