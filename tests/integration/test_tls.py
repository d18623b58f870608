"""HTTPS with --tls-cert/--tls-key: a self-signed certificate made here with openssl, TLS 1.2
and 1.3 accepted, older versions and plain HTTP refused, keep-alive, streamed uploads and
downloads, slow handshakes cut by the header timeout, bad key files refused at start."""
import http.client
import json
import os
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import ADMIN_KEY, IMGD_BIN, Server, corpus_bytes

PHOTO = "real/real_02_honeybee_1620x1280.jpg"


def make_cert(directory, name="server"):
    cert, key = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=imgd-test",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="imgd-tls-")
        cls.cert, cls.key = make_cert(cls.tmp.name)
        cls.server = Server(extra_args=["--tls-cert", cls.cert, "--tls-key", cls.key,
                                        "--header-timeout", "1"], nodes=1).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.tmp.cleanup()

    def context(self, minimum=None, maximum=None):
        ctx = ssl.create_default_context(cafile=self.cert)  # verifies the chain and the IP
        if minimum:
            ctx.minimum_version = minimum
        if maximum:
            ctx.maximum_version = maximum
        return ctx

    def conn(self, ctx=None):
        return http.client.HTTPSConnection("127.0.0.1", self.server.port, timeout=30,
                                           context=ctx or self.context())

    def request(self, conn, method, path, body=None, headers=None):
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()

    def test_upload_and_download_over_one_kept_alive_connection(self):
        c = self.conn()
        try:
            status, _, body = self.request(c, "POST", "/v1/users",
                                           b'{"userName":"tls","userEmail":"tls@example.com"}',
                                           {"Authorization": "Bearer " + ADMIN_KEY,
                                            "Content-Type": "application/json"})
            self.assertEqual(status, 201, body)
            key = json.loads(body)["apiKey"]
            photo = corpus_bytes(PHOTO)
            status, _, body = self.request(c, "POST", "/v1/images", photo,
                                           {"Authorization": "Bearer " + key,
                                            "Content-Type": "image/jpeg"})
            self.assertEqual(status, 201, body)
            img = json.loads(body)
            # The API's links name the scheme it is served on.
            self.assertTrue(img["imageUrl"].startswith(f"https://127.0.0.1:{self.server.port}/"),
                            img["imageUrl"])
            path = f"/v1/images/{img['imageId']}/content"
            status, headers, body = self.request(c, "GET", path)
            self.assertEqual((status, body), (200, photo))
            status, _, body = self.request(c, "GET", path, headers={"Range": "bytes=100-199"})
            self.assertEqual((status, body), (206, photo[100:200]))
            status, headers, body = self.request(c, "HEAD", path)
            self.assertEqual((status, body, headers["content-length"]), (200, b"", str(len(photo))))
            status, _, body = self.request(c, "GET", path + "?w=64&h=64")
            self.assertEqual(status, 200)
            self.assertEqual(body[:2], b"\xff\xd8")
        finally:
            c.close()

    def test_tls_versions(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=version):
                c = self.conn(self.context(version, version))
                try:
                    self.assertEqual(self.request(c, "GET", "/healthz")[0], 200)
                    self.assertEqual(c.sock.version(), {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                                        ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version])
                finally:
                    c.close()
        # TLS 1.1 and 1.0: the client is made willing (security level 0); the server refuses.
        before = self.failures()
        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            with self.subTest(version=version):
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.load_verify_locations(self.cert)
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = version
                with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
                    with self.assertRaises(ssl.SSLError):
                        ctx.wrap_socket(s, server_hostname="127.0.0.1")
        self.assertGreaterEqual(self.failures() - before, 2)

    def failures(self):
        c = self.conn()
        try:
            text = self.request(c, "GET", "/metrics")[2].decode()
        finally:
            c.close()
        for line in text.splitlines():
            if line.startswith("imgd_tls_handshake_failures_total "):
                return float(line.split()[1])
        return 0.0

    def test_plain_http_and_stalled_handshakes_are_cut(self):
        # Plain HTTP on the HTTPS port: no HTTP answer, the connection is closed.
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.assertFalse(data.startswith(b"HTTP/"), data[:100])
        # A client that connects and never completes its handshake is closed within the
        # header timeout (1 s here), while others are served.
        stalled = [socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
                   for _ in range(20)]
        try:
            started = time.monotonic()
            c = self.conn()
            self.assertEqual(self.request(c, "GET", "/healthz")[0], 200)
            c.close()
            for s in stalled:
                self.assertEqual(s.recv(1), b"")  # closed by the server (recv timeout is 10 s)
            self.assertLess(time.monotonic() - started, 8)
        finally:
            for s in stalled:
                s.close()

    def test_bad_key_files_stop_the_start(self):
        other_cert, other_key = make_cert(self.tmp.name, "other")
        cases = {
            "mismatched": ["--tls-cert", self.cert, "--tls-key", other_key],
            "not pem": ["--tls-cert", self.cert, "--tls-key", IMGD_BIN],
            "cert alone": ["--tls-cert", self.cert],
        }
        for name, args in cases.items():
            with self.subTest(name), tempfile.TemporaryDirectory() as data:
                r = subprocess.run([IMGD_BIN, "serve", "--listen", "127.0.0.1:0", "--data", data]
                                   + args, capture_output=True, text=True, timeout=60,
                                   env=dict(os.environ, IMGD_ADMIN_KEY=ADMIN_KEY))
                self.assertNotEqual(r.returncode, 0)
                self.assertNotIn("listening", r.stdout)
                self.assertIn("imgd:", r.stderr)


if __name__ == "__main__":
    unittest.main()
