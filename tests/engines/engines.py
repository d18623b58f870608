#!/usr/bin/env python3
"""Real PostgreSQL 15 and S3 (OpenStack Swift 2.30 + s3api) servers on 127.0.0.1 for tests.

Everything lives under one temporary directory; every process is started in its own
session and stopped by PID (never by name). Used by the integration harness and by
`engines.py run -- CMD...`, which starts both, exports

  IMGD_TEST_PG_URL    postgres://imgd@127.0.0.1:PORT/postgres   (superuser, trust auth)
  IMGD_TEST_S3_URL    s3://imgd-test?endpoint=http://127.0.0.1:PORT&region=us-east-1&style=path
  IMGD_S3_ACCESS_KEY, IMGD_S3_SECRET_KEY

runs CMD, and stops them. With `run --cassandra -- CMD` it also starts one Apache Cassandra
5.0 node (scripts/install-cassandra.sh) and exports

  IMGD_TEST_CASSANDRA_URL  cassandra://127.0.0.1:PORT/imgd?dc=dc1

Packages: postgresql-15, python3-swift, memcached
(scripts/install-deps.sh). PostgreSQL refuses to run as root, so as root it runs as
`nobody`. Swift must use Debian's /usr/bin/python3 (it is not in pyenv's path).
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

PG_BIN = "/usr/lib/postgresql/15/bin"
SYSTEM_PY = "/usr/bin/python3"
S3_ACCOUNT, S3_USER, S3_SECRET = "imgd", "tester", "imgd-test-secret"
S3_BUCKET = "imgd-test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout, what, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    tail = ""
    if log and os.path.exists(log):
        tail = open(log, errors="replace").read()[-3000:]
    raise RuntimeError(f"{what} not ready after {timeout} s\n{tail}")


class Process:
    def __init__(self, args, log, user=None, env=None):
        self.log = log
        out = open(log, "ab")
        preexec = None
        if user:
            pw = pwd.getpwnam(user)

            def preexec():
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
        self.proc = subprocess.Popen(args, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=preexec, env=env)
        out.close()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout)


class Postgres:
    """initdb into dir, then postgres on a free loopback port (fsync off: test data)."""

    def __init__(self, root):
        self.dir = os.path.join(root, "pg")
        os.makedirs(self.dir)
        self.user = "nobody" if os.getuid() == 0 else None
        if self.user:
            shutil.chown(self.dir, self.user)
            os.chmod(root, 0o755)
        self.port = free_port()
        self.proc = None
        self.url = f"postgres://imgd@127.0.0.1:{self.port}/postgres"

    def _run(self, args):
        pre = None
        if self.user:
            pw = pwd.getpwnam(self.user)

            def pre():
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
        subprocess.run(args, check=True, capture_output=True, preexec_fn=pre, timeout=120)

    def start(self):
        data = os.path.join(self.dir, "data")
        self._run([f"{PG_BIN}/initdb", "-D", data, "-A", "trust", "-U", "imgd", "--no-sync",
                   "-E", "UTF8", "--locale=C"])
        self.proc = Process([f"{PG_BIN}/postgres", "-D", data, "-k", self.dir,
                             "-h", "127.0.0.1", "-p", str(self.port), "-c", "fsync=off",
                             "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                             "-c", "max_connections=200"],
                            os.path.join(self.dir, "postgres.log"), user=self.user)
        wait_until(self.ready, 60, "postgres", self.proc.log)
        return self

    def ready(self):
        if not self.proc.alive():
            raise RuntimeError("postgres exited:\n" + open(self.proc.log).read()[-3000:])
        r = subprocess.run([f"{PG_BIN}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                           capture_output=True)
        return r.returncode == 0

    def stop(self):
        if self.proc:
            self.proc.stop(signal.SIGINT)  # fast shutdown

    def start_again(self):
        """Restarts on the same data (fault tests)."""
        data = os.path.join(self.dir, "data")
        self.proc = Process([f"{PG_BIN}/postgres", "-D", data, "-k", self.dir,
                             "-h", "127.0.0.1", "-p", str(self.port), "-c", "fsync=off",
                             "-c", "max_connections=200"],
                            os.path.join(self.dir, "postgres.log"), user=self.user)
        wait_until(self.ready, 60, "postgres", self.proc.log)


LAUNCHER = r'''
import os, sys
from swift.common import utils
utils.set_swift_dir(os.environ["IMGD_SWIFT_DIR"])  # instead of the hard-coded /etc/swift
from swift.common import storage_policy, constraints
storage_policy.reload_storage_policies()
constraints.reload_constraints()
import logging
class _NoSyslog(logging.NullHandler):  # Swift would log to /dev/log or UDP localhost:514
    def __init__(self, *a, **k):
        super().__init__()
utils.ThreadSafeSysLogHandler = _NoSyslog
from swift.common.wsgi import run_wsgi
server = sys.argv.pop(1)
conf_file, options = utils.parse_options()
kw = {}
if server == "object":
    from swift.obj import server as obj_server
    kw["global_conf_callback"] = obj_server.global_conf_callback
sys.exit(run_wsgi(conf_file, server + "-server", **kw, **options))
'''

RINGS = r'''
import sys, os
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for name, port in zip(("account", "container", "object"), map(int, sys.argv[2:5])):
    b = RingBuilder(8, 1, 1)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port,
               "device": "d1", "weight": 100, "meta": ""})
    b.rebalance()
    b.save(os.path.join(etc, name + ".builder"))
    b.get_ring().save(os.path.join(etc, name + ".ring.gz"))
'''


class Swift:
    """Single-node Swift with s3api + tempauth (one replica, no workers), all under dir."""

    def __init__(self, root, min_part_size=5 * 1024 * 1024):
        self.dir = os.path.join(root, "swift")
        self.etc = os.path.join(self.dir, "etc")
        self.srv = os.path.join(self.dir, "srv")
        for d in (self.etc, os.path.join(self.srv, "d1"), os.path.join(self.dir, "cache")):
            os.makedirs(d, exist_ok=True)
        self.ports = {n: free_port() for n in ("proxy", "object", "container", "account",
                                                "memcached")}
        self.min_part_size = min_part_size
        self.procs = {}
        self.endpoint = f"http://127.0.0.1:{self.ports['proxy']}"
        self.access_key = f"{S3_ACCOUNT}:{S3_USER}"
        self.secret_key = S3_SECRET
        self.url = f"s3://{S3_BUCKET}?endpoint={self.endpoint}&region=us-east-1&style=path"

    def _write_configs(self):
        user = pwd.getpwuid(os.getuid()).pw_name
        with open(os.path.join(self.etc, "swift.conf"), "w") as f:
            f.write("[swift-hash]\nswift_hash_path_suffix = imgdtest\n"
                    "swift_hash_path_prefix = imgdtest\n\n"
                    "[storage-policy:0]\nname = Policy-0\ndefault = yes\n\n[swift-constraints]\n")

        def default(port):
            return (f"[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\nworkers = 0\n"
                    f"user = {user}\nswift_dir = {self.etc}\ndevices = {self.srv}\n"
                    f"mount_check = false\ndisable_fallocate = true\n"
                    f"recon_cache_path = {self.dir}/cache\nlog_level = WARNING\n\n")
        for name, extra in (("account", "[account-replicator]\n[account-auditor]\n"
                                        "[account-reaper]\n"),
                            ("container", "[container-replicator]\n[container-updater]\n"
                                          "[container-auditor]\n[container-sync]\n"
                                          "[container-sharder]\n"),
                            ("object", "[object-replicator]\n[object-reconstructor]\n"
                                       "[object-updater]\n[object-auditor]\n")):
            with open(os.path.join(self.etc, f"{name}-server.conf"), "w") as f:
                f.write(default(self.ports[name]) +
                        f"[pipeline:main]\npipeline = healthcheck {name}-server\n\n"
                        f"[app:{name}-server]\nuse = egg:swift#{name}\n\n"
                        f"[filter:healthcheck]\nuse = egg:swift#healthcheck\n\n" + extra)
        with open(os.path.join(self.etc, "proxy-server.conf"), "w") as f:
            f.write(default(self.ports["proxy"]) + f"""[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_{S3_ACCOUNT}_{S3_USER} = {S3_SECRET} .admin

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
storage_domain = localhost
dns_compliant_bucket_names = true
allow_multipart_uploads = true
max_upload_part_num = 10000
min_segment_size = {self.min_part_size}

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{self.ports['memcached']}

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
max_manifest_segments = 10000
[filter:dlo]
use = egg:swift#dlo
""")
        with open(os.path.join(self.etc, "launch.py"), "w") as f:
            f.write(LAUNCHER)
        subprocess.run([SYSTEM_PY, "-c", RINGS, self.etc, str(self.ports["account"]),
                        str(self.ports["container"]), str(self.ports["object"])],
                       check=True, capture_output=True, timeout=60)

    def start(self):
        self._write_configs()
        self._start_processes()
        return self

    def _start_processes(self):
        mc = shutil.which("memcached")
        if mc:
            args = [mc, "-l", "127.0.0.1", "-p", str(self.ports["memcached"]), "-U", "0",
                    "-m", "64"]
            if os.getuid() == 0:
                args += ["-u", "root"]
            self.procs["memcached"] = Process(args, os.path.join(self.dir, "memcached.log"))
        env = dict(os.environ, IMGD_SWIFT_DIR=self.etc)
        for name in ("account", "container", "object", "proxy"):
            self.procs[name] = Process(
                [SYSTEM_PY, os.path.join(self.etc, "launch.py"), name,
                 os.path.join(self.etc, f"{name}-server.conf"), "-v"],
                os.path.join(self.dir, f"{name}.log"), env=env)
        for name in ("account", "container", "object", "proxy"):
            wait_until(lambda n=name: self._healthy(n), 60, f"swift {name}",
                       self.procs[name].log)

    def _healthy(self, name):
        if not self.procs[name].alive():
            raise RuntimeError(f"swift {name} exited:\n" +
                               open(self.procs[name].log, errors="replace").read()[-3000:])
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.ports[name]}/healthcheck", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self):
        for p in self.procs.values():
            p.stop()
        self.procs = {}

    def stop_proxy(self):
        """Takes the S3 endpoint away (fault tests); start_proxy brings it back."""
        self.procs.pop("proxy").stop()

    def start_proxy(self):
        env = dict(os.environ, IMGD_SWIFT_DIR=self.etc)
        self.procs["proxy"] = Process(
            [SYSTEM_PY, os.path.join(self.etc, "launch.py"), "proxy",
             os.path.join(self.etc, "proxy-server.conf"), "-v"],
            os.path.join(self.dir, "proxy.log"), env=env)
        wait_until(lambda: self._healthy("proxy"), 60, "swift proxy", self.procs["proxy"].log)


JVM17_FLAGS = [
    # Cassandra's own conf/jvm17-server.options (JPMS) and bin/cassandra.in.sh's extras.
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports", "java.sql/java.sql=ALL-UNNAMED",
    "--add-exports", "java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports", "jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports", "jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.base/java.io=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens", "jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
]

LOGBACK = """<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${cassandra.logdir}/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
"""


class Cassandra:
    """One Apache Cassandra 5.0 node (CassandraDaemon from the Maven-resolved lib folder,
    scripts/install-cassandra.sh) on `address`, in datacenter `dc`, with the fast-start
    settings: no gossip settle wait, short ring delay, a single token."""

    def __init__(self, root, address="127.0.0.1", dc="dc1", seed=None, name="cassandra",
                 storage_port=None, native_port=None, auth=True):
        self.dir = os.path.join(root, name)
        os.makedirs(os.path.join(self.dir, "log"), exist_ok=True)
        self.address, self.dc = address, dc
        self.seed = seed or address
        # One cluster talks on one storage port and serves clients on one native port (each
        # node on its own address), as drivers expect of the peers they discover.
        self.native_port = native_port or free_port()
        self.storage_port = storage_port or free_port()
        # Ports picked here may be taken by another test between the pick and the bind:
        # then start() picks again.
        self.own_ports = native_port is None and storage_port is None
        self.proc = None
        # With auth, clients log in as the default superuser (as production requires a login).
        self.auth = auth
        self._set_url()

    def _set_url(self):
        login = "cassandra:cassandra@" if self.auth else ""
        self.url = f"cassandra://{login}{self.address}:{self.native_port}/imgd?dc={self.dc}"

    @staticmethod
    def lib():
        here = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run([os.path.join(here, "..", "..", "scripts", "install-cassandra.sh")],
                             check=True, capture_output=True, text=True, timeout=1800)
        return out.stdout.strip().splitlines()[-1]

    def _write_configs(self):
        d = self.dir
        with open(os.path.join(d, "cassandra.yaml"), "w") as f:
            f.write(f"""cluster_name: imgd-test
num_tokens: 1
initial_token: {-9223372036854775808 if self.dc == "dc1" else 0}
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: GossipingPropertyFileSnitch
commitlog_sync: periodic
commitlog_sync_period: 10000ms
data_file_directories: [{d}/data]
commitlog_directory: {d}/commitlog
saved_caches_directory: {d}/saved_caches
hints_directory: {d}/hints
cdc_raw_directory: {d}/cdc_raw
listen_address: {self.address}
rpc_address: {self.address}
storage_port: {self.storage_port}
native_transport_port: {self.native_port}
start_native_transport: true
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{self.seed}"
authenticator: {"PasswordAuthenticator" if self.auth else "AllowAllAuthenticator"}
authorizer: AllowAllAuthorizer
concurrent_reads: 8
concurrent_writes: 8
memtable_heap_space: 64MiB
auto_bootstrap: false
auto_snapshot: false
""")
        with open(os.path.join(d, "cassandra-rackdc.properties"), "w") as f:
            f.write(f"dc={self.dc}\nrack=rack1\n")
        with open(os.path.join(d, "logback.xml"), "w") as f:
            f.write(LOGBACK)

    def start(self):
        self._write_configs()
        lib = self.lib()
        jamm = next(os.path.join(lib, j) for j in sorted(os.listdir(lib))
                    if j.startswith("jamm-") and j.endswith(".jar"))
        d = self.dir
        args = ["java", "-Xms512m", "-Xmx1g", "-XX:+UseG1GC", f"-javaagent:{jamm}",
                *JVM17_FLAGS,
                f"-Dcassandra.config=file://{d}/cassandra.yaml",
                f"-Dcassandra-rackdc.properties=file://{d}/cassandra-rackdc.properties",
                f"-Dcassandra.storagedir={d}", f"-Dcassandra.logdir={d}/log",
                f"-Dlogback.configurationFile={d}/logback.xml",
                "-Dcassandra-foreground=yes",
                "-Dcassandra.skip_wait_for_gossip_to_settle=0",
                # A seed starts alone; a joining node needs time for its shadow gossip round.
                f"-Dcassandra.ring_delay_ms={100 if self.seed == self.address else 5000}",
                "-Dcassandra.superuser_setup_delay_ms=0",
                # No fsync of the system keyspaces: schema changes (a keyspace per test
                # server) take half the time. Test clusters only.
                "-Dcassandra.unsafesystem=true",
                "-cp", f"{d}:{lib}/*", "org.apache.cassandra.service.CassandraDaemon"]
        self.started = time.monotonic()
        for attempt in range(3):
            self.proc = Process(args, os.path.join(d, "stdout.log"))
            try:
                wait_until(self.ready, 120, f"cassandra {self.dc}",
                           os.path.join(d, "log", "system.log"))
                break
            except RuntimeError as e:
                if not (self.own_ports and "is in use by another process" in str(e)
                        and attempt < 2):
                    raise
                self.proc.stop()  # normally gone already; never leave one behind
                self.native_port, self.storage_port = free_port(), free_port()
                self._set_url()
                self._write_configs()
        self.startup_s = time.monotonic() - self.started
        return self

    def ready(self):
        """The native port answers a CQL v4 OPTIONS request with SUPPORTED, and with auth a
        login as the default superuser succeeds (that role is made just after start)."""
        if not self.proc.alive():
            raise RuntimeError("cassandra exited:\n" +
                               open(self.proc.log, errors="replace").read()[-3000:])
        try:
            with socket.create_connection((self.address, self.native_port), timeout=2) as c:
                if self._request(c, 0x05, b"") != 0x06:  # OPTIONS -> SUPPORTED
                    return False
                if not self.auth:
                    return True
                cql = b"CQL_VERSION"
                startup = (b"\x00\x01" + len(cql).to_bytes(2, "big") + cql +
                           b"\x00\x053.0.0")
                if self._request(c, 0x01, startup) != 0x03:  # STARTUP -> AUTHENTICATE
                    return False
                token = b"\x00cassandra\x00cassandra"  # SASL PLAIN
                answer = self._request(c, 0x0F, len(token).to_bytes(4, "big") + token)
                return answer == 0x10  # AUTH_SUCCESS
        except OSError:
            return False

    @staticmethod
    def _request(conn, opcode, body):
        """One CQL v4 frame out, one in: the response's opcode."""
        conn.sendall(bytes([0x04, 0, 0, 0, opcode]) + len(body).to_bytes(4, "big") + body)
        head = b""
        while len(head) < 9:
            chunk = conn.recv(9 - len(head))
            if not chunk:
                return None
            head += chunk
        left = int.from_bytes(head[5:9], "big")
        while left > 0:
            chunk = conn.recv(min(left, 65536))
            if not chunk:
                return None
            left -= len(chunk)
        return head[4] if head[0] == 0x84 else None

    def stop(self):
        if self.proc:
            self.proc.stop()


class Engines:
    """The servers under one temporary directory: PostgreSQL and S3, and Cassandra when
    asked for (it takes a JVM and ~1 GB)."""

    def __init__(self, cassandra=False, postgres=True):
        self.tmp = tempfile.mkdtemp(prefix="imgd-engines-")
        self.pg = Postgres(self.tmp) if postgres else None
        self.s3 = Swift(self.tmp)
        self.cassandra = Cassandra(self.tmp) if cassandra else None

    def start(self):
        started = time.monotonic()
        try:
            if self.pg:
                self.pg.start()
            self.s3.start()
            if self.cassandra:
                self.cassandra.start()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started
        return self

    def env(self):
        env = {"IMGD_TEST_S3_URL": self.s3.url, "IMGD_S3_ACCESS_KEY": self.s3.access_key,
               "IMGD_S3_SECRET_KEY": self.s3.secret_key}
        if self.pg:
            env["IMGD_TEST_PG_URL"] = self.pg.url
        if self.cassandra:
            env["IMGD_TEST_CASSANDRA_URL"] = self.cassandra.url
        return env

    def stop(self):
        if self.cassandra:
            self.cassandra.stop()
        self.s3.stop()
        if self.pg:
            self.pg.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main(argv):
    if len(argv) < 3 or argv[1] != "run" or "--" not in argv:
        print("usage: engines.py run [--cassandra] -- CMD...", file=sys.stderr)
        return 2
    cmd = argv[argv.index("--") + 1:]
    engines = Engines(cassandra="--cassandra" in argv[:argv.index("--")]).start()
    names = "PostgreSQL, Swift S3" + (" and Cassandra" if engines.cassandra else "")
    print(f"engines: {names} up in {engines.startup_s:.1f} s" +
          (f" (Cassandra {engines.cassandra.startup_s:.1f} s)" if engines.cassandra else ""),
          file=sys.stderr)
    try:
        return subprocess.run(cmd, env=dict(os.environ, **engines.env())).returncode
    finally:
        engines.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
