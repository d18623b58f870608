"""Edges and links for tests and the region simulation: real Varnish edges (deploy/edge/start)
and a real Toxiproxy (latency between regions, cut links), on loopback addresses.

  Toxiproxy(root).start()        proxy(name, listen, upstream), latency(name, ms),
                                 enable(name, on), stop()
  Edge(root, origin).start()     url, port, stop(); origin/shield are HOST:PORT

Packages: varnish, varnish-modules (scripts/install-deps.sh); Toxiproxy is built by
scripts/install-toxiproxy.sh at the version tests/engines/toxiproxy/go.sum pins.
"""
import json
import os
import subprocess
import urllib.error
import urllib.request

from engines import Process, free_port, wait_until

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PURGE_TOKEN = "edge-test-purge-token"


def _status(url, method="GET", body=None, timeout=2):
    try:
        req = urllib.request.Request(url, data=body, method=method)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


class Toxiproxy:
    def __init__(self, root, host="127.0.0.1"):
        self.root = root
        self.host = host
        self.port = free_port()
        self.api = f"http://{host}:{self.port}"
        self.proc = None

    def start(self):
        binary = subprocess.run([os.path.join(ROOT, "scripts", "install-toxiproxy.sh")],
                                check=True, capture_output=True, text=True).stdout.strip()
        log = os.path.join(self.root, "toxiproxy.log")
        self.proc = Process([binary, "-host", self.host, "-port", str(self.port)], log)
        wait_until(lambda: _status(self.api + "/version") == 200, 30, "toxiproxy", log)
        return self

    def _call(self, method, path, doc):
        req = urllib.request.Request(self.api + path, data=json.dumps(doc).encode(),
                                     method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def proxy(self, name, listen, upstream):
        """A link listening on listen (HOST:PORT) to upstream (HOST:PORT)."""
        self._call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream,
                                        "enabled": True})
        return listen

    def latency(self, name, ms):
        """ms one way, in both directions (so a round trip costs 2 x ms)."""
        for stream in ("upstream", "downstream"):
            self._call("POST", f"/proxies/{name}/toxics",
                       {"name": f"latency_{stream}", "type": "latency", "stream": stream,
                        "attributes": {"latency": ms, "jitter": 0}})

    def enable(self, name, on):
        """Cuts (False) or restores (True) a link: connections are refused while cut."""
        self._call("POST", f"/proxies/{name}", {"enabled": on})

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None


class Edge:
    """One Varnish edge in front of origin (HOST:PORT), optionally through a shield."""

    def __init__(self, root, origin, host="127.0.0.1", port=None, shield=None, name="edge"):
        self.root = os.path.join(root, name)
        os.makedirs(self.root, exist_ok=True)
        # Varnish compiles and reads its VCL as its own unprivileged user (as root too).
        for d in (root, self.root):
            os.chmod(d, 0o755)
        self.origin = origin
        self.shield = shield
        self.host = host
        self.port = port or free_port()
        self.listen = f"{host}:{self.port}"
        self.url = f"http://{self.listen}"
        self.proc = None

    def start(self):
        log = os.path.join(self.root, "varnish.log")
        args = [os.path.join(ROOT, "deploy", "edge", "start"), "--origin", self.origin,
                "--listen", self.listen, "--workdir", os.path.join(self.root, "work"),
                "--memory", "128m"]
        if self.shield:
            args += ["--shield", self.shield]
        env = dict(os.environ, IMGD_EDGE_PURGE_TOKEN=PURGE_TOKEN)
        self.proc = Process(args, log, env=env)
        wait_until(lambda: _status(self.url + "/edge-healthz") == 200 or not self.proc.alive(),
                   30, "varnish edge", log)
        if not self.proc.alive():
            raise RuntimeError("varnish edge exited: " + open(log).read()[-3000:])
        return self

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None
