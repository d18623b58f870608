"""imgd upload: direct and resumable flows, one JSON line per file when stdout is not a
terminal, and resuming through a connection that a proxy cuts mid-body."""
import json
import socket
import subprocess
import threading
import unittest
import warnings

from harness import IMGD_BIN, CORPUS, Server, corpus_bytes, sha256
import os

SMALL = "real/real_01_skagen_800x533.jpg"
LARGE = "real/real_09_kleiber_6028x3391.jpg"  # 4.4 MB


class CuttingProxy:
    """Forwards 127.0.0.1 connections to the server; the first connection that carries more
    than cut_after bytes upstream is dropped there (once)."""

    def __init__(self, target_port, cut_after):
        self.target_port = target_port
        self.cut_after = cut_after
        self.cuts = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._down, args=(client, upstream), daemon=True).start()

    def _up(self, client, upstream):
        sent = 0
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    upstream.shutdown(socket.SHUT_WR)
                    return
                with self.lock:
                    cut = self.cuts == 0 and sent + len(data) > self.cut_after
                    if cut:
                        self.cuts += 1
                if cut:
                    upstream.sendall(data[: self.cut_after - sent])
                    # shutdown, not just close: another thread is blocked in recv on these
                    # sockets, and close alone would not send the FIN.
                    for s in (upstream, client):
                        s.shutdown(socket.SHUT_RDWR)
                        s.close()
                    return
                upstream.sendall(data)
                sent += len(data)
        except OSError:
            pass

    def _down(self, client, upstream):
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    client.shutdown(socket.SHUT_WR)
                    return
                client.sendall(data)
        except OSError:
            pass

    def close(self):
        self.sock.close()


class CliUploadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        warnings.simplefilter("ignore", ResourceWarning)  # the proxy's threads close late
        cls.server = Server().start()
        cls.key = cls.server.create_user("cli")["apiKey"]

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def run_cli(self, files, port=None, *args):
        cmd = [IMGD_BIN, "upload", "--server", f"http://127.0.0.1:{port or self.server.port}",
               "--key", self.key] + list(args) + [os.path.join(CORPUS, f) for f in files]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        return p.returncode, [json.loads(line) for line in p.stdout.splitlines()], p.stderr

    def test_direct_and_resumable_with_json_lines(self):
        code, lines, err = self.run_cli([SMALL, LARGE, "bad/b03_png_renamed.jpg"], None,
                                        "--threshold", "1000000", "--chunk", "1500000",
                                        "--description", "from the CLI", "--on-duplicate", "new")
        self.assertEqual(code, 1, err)  # the PNG fails, the others are stored
        self.assertEqual(len(lines), 3)
        small, large, png = lines
        self.assertEqual(small["flow"], "direct")
        self.assertEqual(small["image"]["sha256"], sha256(corpus_bytes(SMALL)))
        self.assertEqual(small["image"]["imageName"], os.path.basename(SMALL))
        self.assertEqual(small["image"]["imageDescription"], "from the CLI")
        self.assertEqual(large["flow"], "resumable")
        self.assertEqual(large["image"]["sha256"], sha256(corpus_bytes(LARGE)))
        got = self.server.request("GET", f"/v1/images/{large['image']['imageId']}/content")
        self.assertEqual(got.body, corpus_bytes(LARGE))
        self.assertEqual(png["error"]["status"], 415)

    def test_a_stored_file_is_not_sent_again(self):
        other = "real/real_05_wood_2560x1920.jpg"
        code, lines, err = self.run_cli([other])
        self.assertEqual(code, 0, err)
        self.assertEqual(lines[0]["flow"], "direct")
        first = lines[0]["image"]["imageId"]
        received = self.upload_bytes()
        code, lines, err = self.run_cli([other])
        self.assertEqual(code, 0, err)
        self.assertEqual(lines[0]["flow"], "already-stored")
        self.assertEqual(lines[0]["image"]["imageId"], first)
        self.assertTrue(lines[0]["image"]["duplicate"])
        self.assertEqual(self.upload_bytes(), received)  # no byte of the file went
        # The question about new bytes leaves no pending image behind.
        self.assertNotIn("pending", [status for _, _, status in self.server.images()])

    def upload_bytes(self):
        for line in self.server.metrics().splitlines():
            if line.startswith("imgd_upload_bytes_total "):
                return float(line.split()[1])
        return 0.0

    def count_large(self):
        digest = sha256(corpus_bytes(LARGE))
        return sum(1 for _, sha, _ in self.server.images() if sha == digest)

    def test_resumes_after_a_dropped_connection(self):
        before = self.count_large()
        for cut_after, threshold in ((2_000_000, "1000000"), (40_000, "100000000")):
            proxy = CuttingProxy(self.server.port, cut_after)
            try:
                code, lines, err = self.run_cli([LARGE], proxy.port, "--threshold", threshold,
                                                "--on-duplicate", "new")
            finally:
                proxy.close()
            self.assertEqual(proxy.cuts, 1, "the proxy did not cut")
            self.assertEqual(code, 0, (lines, err))
            self.assertEqual(lines[0]["image"]["sha256"], sha256(corpus_bytes(LARGE)))
        # One image per run (onDuplicate=new): the direct flow's retry carried its
        # Idempotency-Key, the resumable flow continued its upload.
        self.assertEqual(self.count_large(), before + 2)

    def test_progress_bar_on_a_terminal(self):
        import pty  # noqa: F401  (os.openpty needs a pty-capable system)
        master, slave = os.openpty()
        p = subprocess.Popen([IMGD_BIN, "upload", "--server",
                              f"http://127.0.0.1:{self.server.port}", "--key", self.key,
                              "--threshold", "1000000", "--on-duplicate", "new",
                              os.path.join(CORPUS, LARGE)],
                             stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        self.assertEqual(p.wait(timeout=60), 0, p.stderr.read())
        text = out.decode()
        self.assertIn("MB/s", text)
        self.assertIn("ETA", text)
        self.assertIn("100%", text)
        self.assertIn("(6028x3391)", text)  # a human line, not JSON
        self.assertNotIn('"sha256"', text)

    def test_wrong_key_and_unreachable_server(self):
        p = subprocess.run([IMGD_BIN, "upload", "--server", f"http://127.0.0.1:{self.server.port}",
                            "--key", "wrong", os.path.join(CORPUS, SMALL)],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(json.loads(p.stdout)["error"]["status"], 401)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]
        p = subprocess.run([IMGD_BIN, "upload", "--server", f"http://127.0.0.1:{dead}",
                            "--key", "k", "--retries", "1", os.path.join(CORPUS, SMALL)],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("connection failed", json.loads(p.stdout)["error"]["detail"])


if __name__ == "__main__":
    unittest.main()
