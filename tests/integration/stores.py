"""What the integration tests need to look inside the stores a server uses: the embedded
ones (SQLite file, blob directory) or PostgreSQL + S3 (through psql and a small SigV4
client). Selected per Server by the harness."""
import datetime
import hashlib
import hmac
import os
import subprocess
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET


class PgShim:
    """`with db() as d: d.execute(sql, params).fetchone()` over psql, for test assertions.
    `?` placeholders are replaced by quoted literals (test-controlled values only)."""

    def __init__(self, url):
        self.url = url
        self.rows = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def literal(v):
        if v is None:
            return "NULL"
        if isinstance(v, (int, float)):
            return str(v)
        return "'" + str(v).replace("'", "''") + "'"

    def execute(self, sql, params=()):
        parts = sql.split("?")
        assert len(parts) == len(params) + 1, sql
        text = parts[0] + "".join(self.literal(p) + rest for p, rest in zip(params, parts[1:]))
        out = subprocess.run(["psql", self.url, "-XAtq", "-F", "\t", "-c", text],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        self.rows = []
        for line in out.stdout.splitlines():
            self.rows.append(tuple(int(c) if c.lstrip("-").isdigit() else c
                                   for c in line.split("\t")))
        return self

    def __iter__(self):
        return iter(self.rows)

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def fetchall(self):
        return self.rows


def _sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class S3Peek:
    """Lists objects (and multipart uploads) below a prefix of the test bucket."""

    def __init__(self, blob_url, access_key, secret_key):
        u = urllib.parse.urlsplit(blob_url)
        q = dict(urllib.parse.parse_qsl(u.query))
        self.bucket = u.netloc
        self.endpoint = q["endpoint"]
        self.prefix = q.get("prefix", "")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"
        self.region = q.get("region", "us-east-1")
        self.access_key, self.secret_key = access_key, secret_key

    def _get(self, query):
        host = urllib.parse.urlsplit(self.endpoint).netloc
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        canonical_query = "&".join(
            f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
            for k, v in sorted(query.items()))
        empty = hashlib.sha256(b"").hexdigest()
        headers = {"host": host, "x-amz-content-sha256": empty, "x-amz-date": amz_date}
        signed = ";".join(sorted(headers))
        creq = "\n".join(["GET", "/" + self.bucket, canonical_query,
                          "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, empty])
        scope = f"{day}/{self.region}/s3/aws4_request"
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        k = _sign(("AWS4" + self.secret_key).encode(), day)
        for part in (self.region, "s3", "aws4_request"):
            k = _sign(k, part)
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        req = urllib.request.Request(f"{self.endpoint}/{self.bucket}?{canonical_query}",
                                     headers={"x-amz-content-sha256": empty,
                                              "x-amz-date": amz_date,
                                              "Authorization":
                                                  f"AWS4-HMAC-SHA256 Credential={self.access_key}/"
                                                  f"{scope}, SignedHeaders={signed}, "
                                                  f"Signature={sig}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return ET.fromstring(r.read())

    @staticmethod
    def _texts(root, tag):
        return [e.text for e in root.iter() if e.tag.endswith("}" + tag) or e.tag == tag]

    def keys(self, sub):
        root = self._get({"list-type": "2", "prefix": self.prefix + sub})
        return [k[len(self.prefix):] for k in self._texts(root, "Key")]

    def uploads(self, sub):
        root = self._get({"uploads": "", "prefix": self.prefix + sub})
        return [k[len(self.prefix):] for k in self._texts(root, "Key")]
