"""What the bench scripts share: the imgd binary and test harness on the path, unique
upload bytes, percentiles. Import it first: it sets IMGD_BIN from argv[1] when given."""
import os
import struct
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/integration"))
sys.path.insert(0, os.path.join(HERE, "../tests/engines"))
os.environ.setdefault("IMGD_BIN", sys.argv[1] if len(sys.argv) > 1 else
                      os.path.join(HERE, "../build/imgd"))


def unique(data):
    """The same JPEG with a random COM segment after SOI: new bytes, same image."""
    tag = uuid.uuid4().bytes
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(tag) + 2) + tag + data[2:]


def pct(values, p):
    """The p-th percentile (linear interpolation)."""
    v = sorted(values)
    k = (len(v) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)
