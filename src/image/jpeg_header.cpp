#include "image/jpeg_header.h"

#include <array>
#include <vector>

namespace imgd {
namespace {

// Sequential reader over a ByteSource with a small window, so a walk over a large file
// reads only the headers it needs.
class Cursor {
 public:
  explicit Cursor(ByteSource& src) : src_(src), size_(src.size()) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  bool ReadByte(uint8_t& b) {
    if (pos_ >= size_) return false;
    if (pos_ < win_start_ || pos_ >= win_start_ + win_len_) Fill();
    b = win_[pos_ - win_start_];
    ++pos_;
    return true;
  }
  bool ReadU16(uint16_t& v) {
    uint8_t hi, lo;
    if (!ReadByte(hi) || !ReadByte(lo)) return false;
    v = static_cast<uint16_t>((hi << 8) | lo);
    return true;
  }
  void Skip(uint64_t n) { pos_ += n; }

 private:
  void Fill() {
    win_start_ = pos_;
    win_len_ = src_.ReadAt(pos_, win_.data(), win_.size());
  }
  ByteSource& src_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::array<uint8_t, 4096> win_{};
  uint64_t win_start_ = 0;
  size_t win_len_ = 0;
};

}  // namespace

bool HasJpegSignature(ByteSource& src) {
  uint8_t b[3];
  if (src.ReadAt(0, b, 3) != 3) return false;
  return b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

JpegHeaderResult ReadJpegHeader(ByteSource& src) {
  JpegHeaderResult r;
  Cursor c(src);
  uint8_t b0, b1;
  if (!c.ReadByte(b0) || !c.ReadByte(b1) || b0 != 0xFF || b1 != 0xD8) {
    r.error = "missing JPEG start-of-image marker";
    return r;
  }
  for (;;) {
    uint8_t b;
    if (!c.ReadByte(b)) {
      r.error = "data ends before the frame header (SOF)";
      return r;
    }
    if (b != 0xFF) {
      r.error = "expected a marker at offset " + std::to_string(c.pos() - 1);
      return r;
    }
    uint8_t m;
    do {  // any number of 0xFF fill bytes may precede a marker
      if (!c.ReadByte(m)) {
        r.error = "data ends before the frame header (SOF)";
        return r;
      }
    } while (m == 0xFF);
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // standalone markers
    if (m == 0xD8 || m == 0xD9 || m == 0xDA || m == 0x00) {
      r.error = "no frame header (SOF) before the image data";
      return r;
    }
    uint16_t len;
    if (!c.ReadU16(len) || len < 2) {
      r.error = "malformed segment length";
      return r;
    }
    uint64_t body = len - 2u;
    if (body > c.remaining()) {
      r.error = "segment runs past the end of the data";
      return r;
    }
    if (!IsSofMarker(m)) {
      c.Skip(body);
      continue;
    }
    JpegHeader h;
    uint8_t precision, ncomp;
    uint16_t height, width;
    if (body < 6 || !c.ReadByte(precision) || !c.ReadU16(height) || !c.ReadU16(width) ||
        !c.ReadByte(ncomp)) {
      r.error = "frame header too short";
      return r;
    }
    if (ncomp == 0 || body != 6u + 3u * ncomp) {
      r.error = "frame header component count does not match its length";
      return r;
    }
    if (ncomp != 1 && ncomp != 3 && ncomp != 4) {
      r.error = "unsupported number of components: " + std::to_string(ncomp);
      return r;
    }
    if (width == 0 || height == 0) {
      r.error = "image has zero width or height";
      return r;
    }
    h.width = width;
    h.height = height;
    h.components = ncomp;
    h.precision = precision;
    h.sof_marker = m;
    h.progressive = (m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE);
    h.arithmetic = m >= 0xC9;
    r.header = h;
    return r;
  }
}

}  // namespace imgd
