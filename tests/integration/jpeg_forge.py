"""Hand-made greyscale JPEGs for the hostile-input tests (the Python twin of
tests/forge/jpeg_forge.h): every block is flat, so any size costs a few bits per block and a
progressive file carries as many scans as its script lists."""


class _Bits:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.used = 0

    def put(self, bits, n):
        for i in range(n - 1, -1, -1):
            self.acc = (self.acc << 1) | ((bits >> i) & 1)
            self.used += 1
            if self.used == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)
                self.acc = self.used = 0

    def finish(self):
        while self.used:
            self.put(1, 1)
        return bytes(self.out)


def _marker(m, body):
    return bytes([0xFF, m]) + (len(body) + 2).to_bytes(2, "big") + bytes(body)


def _start(width, height, progressive):
    dc = [0x00, 1] + [0] * 15 + [0x00]  # category 0: code "0"
    ac = [0x10, 0, 0, 0, 15] + [0] * 12 + [r << 4 for r in range(15)]  # EOBr: code r, 4 bits
    return (b"\xFF\xD8" + _marker(0xDB, [0] + [1] * 64)
            + _marker(0xC2 if progressive else 0xC0,
                      [8, height >> 8, height & 0xFF, width >> 8, width & 0xFF, 1, 1, 0x11, 0])
            + _marker(0xC4, dc + ac))


def _sos(ss, se, ah, al):
    return _marker(0xDA, [1, 1, 0x00, ss, se, (ah << 4) | al])


def _blocks(width, height):
    return ((width + 7) // 8) * ((height + 7) // 8)


def baseline(width, height):
    """A valid baseline JPEG of any size: five zero bits per block."""
    n = _blocks(width, height) * 5
    data = bytes(n // 8) + (bytes([(0xFF >> (n % 8)) & 0xFF]) if n % 8 else b"")
    data = data.replace(b"\xFF", b"\xFF\x00")
    return _start(width, height, False) + _sos(0, 63, 0, 0) + data + b"\xFF\xD9"


def longest_progression(count):
    """The DC scan, then each AC coefficient alone, first at Al=13, refined to Al=0."""
    scans = [(0, 0, 0, 0)]
    for k in range(1, 64):
        scans.append((k, k, 0, 13))
        scans += [(k, k, ah, ah - 1) for ah in range(13, 0, -1)]
    return scans[:count]


def progressive(width, height, scans):
    blocks = _blocks(width, height)
    out = bytearray(_start(width, height, True))
    for ss, se, ah, al in scans:
        out += _sos(ss, se, ah, al)
        if ss == 0:
            n = blocks
            out += bytes(n // 8) + (bytes([(0xFF >> (n % 8)) & 0xFF]) if n % 8 else b"")
            continue
        bits = _Bits()
        left = blocks
        while left:
            run = min(left, 32767)
            r = run.bit_length() - 1
            bits.put(r, 4)
            bits.put(run - (1 << r), r)
            left -= run
        out += bits.finish()
    return bytes(out + b"\xFF\xD9")
