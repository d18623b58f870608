"""Startup and shutdown: SIGTERM lets an in-flight upload finish, then exits 0; a
generated admin key is printed once; leftover temp files are swept at start."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import IMGD_BIN, REMOTE, Server, corpus_bytes


class LifecycleTest(unittest.TestCase):
    def metric(self, server, name):
        text = server.request("GET", "/metrics").body.decode()
        m = re.search(rf"^{name} (\S+)$", text, re.M)
        return float(m.group(1))

    def test_sigterm_drains_in_flight_upload(self):
        server = Server().start()
        try:
            key = server.create_user("drain")["apiKey"]
            data = corpus_bytes("real/real_03_storm_1920x1280.jpg")
            sock = socket.create_connection(("127.0.0.1", server.port))
            head = (f"POST /v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                    f"Content-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n").encode()
            sock.sendall(head + data[:1000])
            # Wait until the server is handling it (the metrics request itself is the other 1).
            while self.metric(server, "imgd_http_requests_in_flight") < 2:
                pass
            server.proc.send_signal(signal.SIGTERM)
            # New connections are no longer accepted once draining starts...
            refused = False
            for _ in range(1000):
                try:
                    socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
                except OSError:
                    refused = True
                    break
            self.assertTrue(refused)
            # ...but the upload in flight completes.
            sock.sendall(data[1000:])
            resp = b""
            while b"\r\n\r\n" not in resp or not resp.rstrip().endswith(b"}"):
                piece = sock.recv(65536)
                if not piece:
                    break
                resp += piece
            sock.close()
            self.assertTrue(resp.startswith(b"HTTP/1.1 201"), resp[:200])
            self.assertIn(b"Connection: close", resp)
            server.proc.wait(timeout=30)
            self.assertEqual(server.stop(), 0, open(server.stderr_path).read()[-3000:])
            server.start()
            self.assertEqual(server.image_rows(), 1)
        finally:
            server.cleanup()

    def test_generated_admin_key_is_printed_once_and_works(self):
        with tempfile.TemporaryDirectory() as d:
            env = {k: v for k, v in os.environ.items() if k != "IMGD_ADMIN_KEY"}

            def start():
                p = subprocess.Popen([IMGD_BIN, "serve", "--listen", "127.0.0.1:0", "--data", d],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
                lines = []
                for line in p.stdout:
                    lines.append(line.decode())
                    if line.startswith(b"imgd listening on"):
                        break
                return p, lines

            p, lines = start()
            keys = [l.split(": ", 1)[1].strip() for l in lines if "admin key" in l]
            self.assertEqual(len(keys), 1)
            port = int(lines[-1].strip().rsplit(":", 1)[1])
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", port)
            c.request("GET", "/v1/users/me", headers={"Authorization": "Bearer " + keys[0]})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertIn(b'"isAdmin":true', r.read())
            c.close()
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=30), 0)
            p.stdout.close()
            p, lines = start()
            self.assertFalse([l for l in lines if "admin key" in l])  # only on first start
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
            p.stdout.close()

    @unittest.skipIf(REMOTE, "plants files in the filesystem store; the S3 store's leftovers are "
                             "covered by the blob contract suite")
    def test_leftover_temp_files_are_swept_at_start(self):
        server = Server().start()
        try:
            server.stop()
            tmp = os.path.join(server.data_dir, "blobs", "tmp", "crashed.part")
            with open(tmp, "wb") as f:
                f.write(b"partial upload")
            server.start()
            self.assertEqual(server.temp_files(), [])
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()


class DataDirTest(unittest.TestCase):
    def test_one_server_per_data_dir_and_gc_refuses_while_it_runs(self):
        server = Server().start()
        try:
            second = subprocess.run([IMGD_BIN, "serve", "--listen", "127.0.0.1:0", "--data",
                                     server.data_dir], capture_output=True, text=True, timeout=60)
            self.assertEqual(second.returncode, 1)
            self.assertIn("another imgd process", second.stderr)
            gc = server.gc(grace=0)
            self.assertEqual(gc.returncode, 1)
            self.assertIn("server is running", gc.stderr)
            server.stop()
            self.assertEqual(server.gc(grace=0).returncode, 0)
        finally:
            server.cleanup()

    @unittest.skipIf(REMOTE, "plants files in the filesystem store; the S3 store's leftovers are "
                             "covered by the blob contract suite")
    def test_server_sweeps_orphans_and_staged_files_itself(self):
        server = Server(extra_args=["--gc-interval", "1", "--gc-grace", "0"]).start()
        try:
            key = server.create_user("sweep")["apiKey"]
            kept = server.upload(corpus_bytes("real/real_01_skagen_800x533.jpg"), key).json()
            orphan_dir = os.path.join(server.data_dir, "blobs", "originals", "ff", "ee")
            os.makedirs(orphan_dir, exist_ok=True)
            orphan = os.path.join(orphan_dir, "ffee" + "0" * 60)
            with open(orphan, "wb") as f:
                f.write(b"left by a crash between rename and commit")
            staged = os.path.join(server.data_dir, "blobs", "tmp", "old.part")
            with open(staged, "wb") as f:
                f.write(b"x")
            deadline = time.monotonic() + 30
            while (os.path.exists(orphan) or os.path.exists(staged)) and time.monotonic() < deadline:
                pass
            self.assertFalse(os.path.exists(orphan))
            self.assertFalse(os.path.exists(staged))
            r = server.request("GET", f"/v1/images/{kept['imageId']}/content")
            self.assertEqual(r.status, 200)  # referenced bytes stay
        finally:
            server.cleanup()
