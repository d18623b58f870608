"""The web console in a real browser (web/e2e/console.mjs: playwright-core driving
Debian's Chromium), against the real imgd behind a Toxiproxy link the browser test cuts
mid-upload. Also what a browser test cannot see from inside the page: the console's files
are the embedded ones, with the headers they need, and no API key reaches imgd's log."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from harness import ADMIN_KEY, CORPUS, REMOTE, Server, free_port

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "engines"))
from edges import Toxiproxy  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Screenshots are kept as test artifacts (CMake passes a directory in the build tree).
ARTIFACTS = os.environ.get("IMGD_TEST_ARTIFACTS",
                           os.path.join(tempfile.gettempdir(), "imgd-console-screens"))


@unittest.skipIf(REMOTE, "the console is the same on every backend; runs on the embedded one")
class ConsoleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="imgd-console-")
        cls.toxi = Toxiproxy(cls.tmp.name).start()
        cls.proxy_port = free_port()
        origin = f"http://127.0.0.1:{cls.proxy_port}"
        cls.server = Server(extra_args=["--public-base-url", origin]).start()
        cls.toxi.proxy("console", f"127.0.0.1:{cls.proxy_port}", f"127.0.0.1:{cls.server.port}")
        cls.origin = origin

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.toxi.stop()
        cls.tmp.cleanup()

    def test_console_in_a_browser(self):
        env = dict(os.environ, CONSOLE_URL=self.origin + "/", ADMIN_KEY=ADMIN_KEY,
                   TOXIPROXY_API=self.toxi.api, PROXY="console",
                   PHOTO_SMALL=os.path.join(os.path.abspath(CORPUS), "real", "real_06_after_the_rain_3000x1993.jpg"),
                   PHOTO_LARGE=os.path.join(os.path.abspath(CORPUS), "real", "real_08_sunset_4272x2848.jpg"),
                   CORPUS=os.path.abspath(CORPUS), ARTIFACTS=ARTIFACTS)
        started = time.monotonic()
        run = subprocess.run(["node", os.path.join(ROOT, "web", "e2e", "console.mjs")],
                             env=env, capture_output=True, text=True, timeout=300,
                             cwd=os.path.join(ROOT, "web"))
        elapsed = time.monotonic() - started
        print(run.stdout, run.stderr, f"browser test: {elapsed:.1f} s", file=sys.stderr)
        self.assertEqual(run.returncode, 0, run.stderr[-4000:])
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        self.assertGreaterEqual(figures["dropped_connections"], 1)
        for name in ("01-sign-in", "03-upload", "04-gallery", "05-image-private", "06-playground",
                     "08-gallery-phone"):
            self.assertGreater(os.path.getsize(os.path.join(ARTIFACTS, name + ".png")), 10_000)
        # The keys the test typed travelled in headers only: no log line has one.
        self.server.stop()
        with open(self.server.stderr_path) as f:
            log = f.read()
        self.assertIn("/v1/uploads/", log)  # the access log did record the requests
        self.assertNotIn(ADMIN_KEY, log)
        self.assertNotIn(figures["user_key"], log)

    def test_console_files_and_headers(self):
        page = self.server.request("GET", "/")
        self.assertEqual(page.status, 200)
        csp = page.header("content-security-policy")
        for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'",
                          "frame-ancestors 'none'", "base-uri 'none'"):
            self.assertIn(directive, csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("unsafe-eval", csp)
        self.assertEqual(page.header("x-frame-options"), "DENY")
        html = page.body.decode()
        self.assertNotIn("<style", html)
        self.assertNotRegex(html, r"<script(?![^>]*\bsrc=)")  # no inline script
        scripts = [p.split('"')[0] for p in html.split('src="')[1:]]
        self.assertTrue(scripts and scripts[0].startswith("/assets/"), scripts)
        js = self.server.request("GET", scripts[0], headers={"Accept-Encoding": "gzip"})
        self.assertEqual(js.status, 200)
        self.assertEqual(js.header("content-encoding"), "gzip")
        self.assertIn("immutable", js.header("cache-control"))
        again = self.server.request("GET", scripts[0], headers={"If-None-Match": js.header("etag")})
        self.assertEqual(again.status, 304)
        self.assertEqual(self.server.request("GET", "/assets/nope.js").status, 404)
        spec = self.server.request("GET", "/v1/openapi.json")
        self.assertEqual(spec.status, 200)
        self.assertEqual(spec.json()["openapi"], "3.1.0")

    @unittest.skipUnless(shutil.which("node"), "needs node")
    def test_console_typechecks(self):
        run = subprocess.run(["npx", "--no-install", "tsc", "--noEmit"], cwd=os.path.join(ROOT, "web"),
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)


if __name__ == "__main__":
    unittest.main()
