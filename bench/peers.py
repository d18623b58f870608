"""The contenders, each started on 127.0.0.1 only and stopped by the PID this suite started:
imgd (the Release build), nginx (image_filter + static sendfile), ipx (Node), and the
in-process loops (sharp, Debian's libvips in C++, ImageMagick's convert)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from benchlib import HERE, pct  # noqa: F401 (HERE also fixes sys.path for harness)
from harness import Server, free_port

BUILD = os.path.join(HERE, "../build")
CONVERT = "/usr/bin/convert-im6.q16"  # Debian's ImageMagick itself, not any wrapper on PATH
NGINX_IMAGE_FILTER = "/usr/lib/nginx/modules/ngx_http_image_filter_module.so"


def hwm_kb(pid):
    """Peak resident memory of a live process (VmHWM), in KiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def wait_port(port, proc, timeout=30):
    """Polls until something accepts on the port (servers that cannot report readiness)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def stop_pid(proc, sig=signal.SIGTERM, timeout=30):
    if proc and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Imgd:
    """imgd on its embedded stores in a temporary data dir."""

    name = "imgd"

    # Every load here comes from one address and one key at rates far beyond a person's:
    # the abuse limits would measure themselves, not imgd. The other peers have none either.
    NO_LIMITS = ["--rate-limit-ip", "0", "--rate-limit-key", "0", "--rate-limit-upload-bytes",
                 "0", "--max-concurrent-uploads", "0", "--max-concurrent-uploads-per-key", "0",
                 "--max-connections-per-ip", "1000000"]

    def __init__(self, cold=False, extra_args=(), shed_ms=0):
        # Shedding off unless asked for: the closed-loop benches measure latency at the load
        # they choose (the mix, open loop, turns it on to show what it does past capacity).
        args = self.NO_LIMITS + ["--shed-queue-delay-ms", str(shed_ms)] + list(extra_args)
        if cold:
            args += ["--variant-cache-bytes", "0", "--store-variants", "false"]
        self.server = Server(extra_args=args, nodes=1)

    def start(self):
        self.server.start()
        self.port = self.server.port
        self.pid = self.server.pid()
        self.key = self.server.create_user("bench")["apiKey"]
        return self

    def upload(self, data):
        for _ in range(30):  # as a client should: a 503 is retried after its Retry-After
            r = self.server.upload(data, self.key)
            if r.status != 503:
                break
            time.sleep(float(r.header("retry-after") or 1))
        assert r.status == 201, (r.status, r.body[:300])
        return r.json()["imageId"]

    def variant_path(self, image_id, width):
        return f"/v1/images/{image_id}/content?w={width}&q=80"

    def peak_rss_kb(self):
        return hwm_kb(self.pid)

    def stop(self):
        self.server.cleanup()


class Nginx:
    """nginx with image_filter locations (/filter/<w>/<file>) and a static sendfile location
    (/static/<file>) over one folder."""

    name = "nginx"

    def __init__(self, root):
        self.root = root
        self.prefix = root + "-nginx"
        os.makedirs(self.prefix, exist_ok=True)
        self.proc = None

    def start(self):
        self.port = free_port()
        filters = "".join(
            f"""
    location /filter/{w}/ {{
      alias {self.root}/;
      image_filter resize {w} -;
      image_filter_jpeg_quality 80;
      image_filter_buffer 64M;
    }}""" for w in (300, 1200))
        conf = f"""load_module {NGINX_IMAGE_FILTER};
daemon off;
master_process on;
worker_processes auto;
user root;
pid {self.prefix}/nginx.pid;
error_log {self.prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  types {{ image/jpeg jpg; }}
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 10000000;
  open_file_cache max=1000 inactive=60s;
  client_body_temp_path {self.prefix}/body;
  proxy_temp_path {self.prefix}/proxy;
  fastcgi_temp_path {self.prefix}/fastcgi;
  uwsgi_temp_path {self.prefix}/uwsgi;
  scgi_temp_path {self.prefix}/scgi;
  server {{
    listen 127.0.0.1:{self.port};
    location /static/ {{ alias {self.root}/; }}{filters}
  }}
}}
"""
        path = os.path.join(self.prefix, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(["nginx", "-p", self.prefix, "-c", path],
                                     stderr=open(os.path.join(self.prefix, "stderr.log"), "ab"))
        wait_port(self.port, self.proc)
        self.pid = self.proc.pid
        return self

    def variant_path(self, name, width):
        return f"/filter/{width}/{name}"

    def peak_rss_kb(self):
        """The master's and its workers' peaks added up (each worker resizes on its own)."""
        return hwm_kb(self.pid) + sum(hwm_kb(c) for c in children(self.pid))

    def stop(self):
        stop_pid(self.proc, signal.SIGQUIT)  # graceful: workers finish, master removes its pid


class Ipx:
    """ipx (unjs) over a folder: /w_<w>,q_80/<file>."""

    name = "ipx"

    def __init__(self, root):
        self.root = root
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["node", os.path.join(HERE, "ipx_server.mjs"), self.root,
                                      "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     cwd=HERE)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"ipx listening on (\d+)", line)
        if not m:
            raise RuntimeError("ipx did not start: " + line)
        self.port = int(m.group(1))
        self.pid = self.proc.pid
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    def variant_path(self, name, width):
        return f"/w_{width},q_80/{name}"

    def peak_rss_kb(self):
        return hwm_kb(self.pid)

    def stop(self):
        stop_pid(self.proc)


def run_measured(cmd, timeout, env=None, cwd=None):
    """Runs a command to its end; returns (stdout, peak RSS of that process in KiB)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=cwd)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    timer.cancel()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err.decode()[-500:]}")
    return out.decode(), usage.ru_maxrss


def sharp_loop(path, width, conc, seconds, max_images):
    out, rss = run_measured(["node", os.path.join(HERE, "sharp_loop.js"), path, str(width),
                             str(conc), str(seconds), str(max_images)], seconds * 10 + 60,
                            cwd=HERE)
    d = json.loads(out)
    return d["latencies_ms"], d["images_per_s"], rss, f"sharp {d['sharp']} (libvips {d['vips']})"


def vips_loop(path, width, conc, seconds, max_images):
    out, rss = run_measured([os.path.join(BUILD, "vips-loop"), path, str(width), str(conc),
                             str(seconds), str(max_images)], seconds * 10 + 60)
    d = json.loads(out)
    return d["latencies_ms"], d["images_per_s"], rss, f"libvips {d['vips']}"


def convert_loop(path, width, height, conc, seconds, max_images, size_hint, scratch):
    """ImageMagick's convert, one process per image, conc processes at a time, one thread
    each (MAGICK_THREAD_LIMIT=1, like every other contender's one thread per image)."""
    env = dict(os.environ, MAGICK_THREAD_LIMIT="1")
    lock = threading.Lock()
    latencies, peak = [], [0]
    end = time.time() + seconds
    started = [0]

    def worker(i):
        out = os.path.join(scratch, f"im-{i}.jpg")
        cmd = [CONVERT]
        if size_hint:  # lets libjpeg decode at a reduced scale (DCT scaling), 2x the target
            cmd += ["-define", f"jpeg:size={2 * width}x{2 * height}"]
        cmd += [path, "-thumbnail", f"{width}x", "-quality", "80", out]
        while time.time() < end:
            with lock:
                if started[0] >= max_images:
                    return
                started[0] += 1
            t = time.perf_counter()
            _, rss = run_measured(cmd, 120, env=env)
            with lock:
                latencies.append((time.perf_counter() - t) * 1000)
                peak[0] = max(peak[0], rss)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, len(latencies) / (time.perf_counter() - t0), peak[0]


def versions():
    """What ran, as each tool reports itself."""
    def cmd(args):
        try:
            r = subprocess.run(args, capture_output=True, text=True, timeout=30)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not found"

    def npm_version(name):
        try:
            with open(os.path.join(HERE, "node_modules", name, "package.json")) as f:
                return json.load(f)["version"]
        except OSError:
            return "not installed"

    def dpkg(name):
        return cmd(["dpkg-query", "-W", "-f=${Version}", name])

    git = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "imgd": f"{git} (Release build)",
        "libvips (Debian, imgd and the C loop)": dpkg("libvips42"),
        "libjpeg-turbo (Debian)": dpkg("libjpeg62-turbo"),
        "sharp": npm_version("sharp") + " (bundles libvips " + npm_version(
            "@img/sharp-libvips-linux-x64") + ")",
        "ipx": npm_version("ipx"),
        "node": cmd(["node", "--version"]),
        "nginx": cmd(["nginx", "-v"]) + ", image_filter " + dpkg(
            "libnginx-mod-http-image-filter") + " (libgd " + dpkg("libgd3") + ")",
        "ImageMagick": cmd([CONVERT, "-version"]),
        "wrk": cmd(["wrk", "-v"]),
        "kernel": cmd(["uname", "-sr"]),
        "cpu": f"{cpu}, {os.cpu_count()} cores",
    }


def have(tool):
    return shutil.which(tool) is not None
