#include "image/jpeg_info.h"

#include <cmath>
#include <map>
#include <vector>

namespace imgd {
namespace {

constexpr size_t kMaxIcc = 4u << 20;  // larger profiles are ignored (treated as sRGB-less)

uint16_t Get16(std::string_view s, size_t off, bool big_endian) {
  auto b = [&](size_t i) { return static_cast<uint8_t>(s[off + i]); };
  return big_endian ? static_cast<uint16_t>(b(0) << 8 | b(1))
                    : static_cast<uint16_t>(b(1) << 8 | b(0));
}
uint32_t Get32(std::string_view s, size_t off, bool big_endian) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(s[off + i])); };
  return big_endian ? (b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3))
                    : (b(3) << 24 | b(2) << 16 | b(1) << 8 | b(0));
}

}  // namespace

int ExifOrientation(std::string_view app1) {
  if (app1.size() < 14 || app1.substr(0, 6) != std::string_view("Exif\0\0", 6)) return 1;
  std::string_view tiff = app1.substr(6);
  bool be;
  if (tiff.substr(0, 2) == "MM") {
    be = true;
  } else if (tiff.substr(0, 2) == "II") {
    be = false;
  } else {
    return 1;
  }
  if (Get16(tiff, 2, be) != 42) return 1;
  uint32_t ifd = Get32(tiff, 4, be);
  if (ifd < 8 || ifd > tiff.size() || tiff.size() - ifd < 2) return 1;
  uint16_t count = Get16(tiff, ifd, be);
  for (uint32_t i = 0; i < count; ++i) {
    size_t e = ifd + 2 + static_cast<size_t>(i) * 12;
    if (e + 12 > tiff.size()) return 1;
    if (Get16(tiff, e, be) != 0x0112) continue;
    uint16_t type = Get16(tiff, e + 2, be);
    uint32_t n = Get32(tiff, e + 4, be);
    if (type != 3 || n < 1) return 1;  // SHORT
    int v = Get16(tiff, e + 8, be);
    return v >= 1 && v <= 8 ? v : 1;
  }
  return 1;
}

bool IsSrgbProfile(std::string_view icc) {
  if (icc.size() < 132 || icc.substr(16, 4) != "RGB ") return false;
  uint32_t count = Get32(icc, 128, true);
  if (count > 1000 || 132 + static_cast<size_t>(count) * 12 > icc.size()) return false;
  std::map<std::string, std::string_view> tags;
  for (uint32_t i = 0; i < count; ++i) {
    size_t e = 132 + static_cast<size_t>(i) * 12;
    uint32_t off = Get32(icc, e + 4, true), len = Get32(icc, e + 8, true);
    if (off > icc.size() || len > icc.size() - off) return false;
    tags[std::string(icc.substr(e, 4))] = icc.substr(off, len);
  }
  // The description, ASCII ('desc') or UTF-16BE ('mluc'): look for "sRGB" either way.
  auto desc = tags.find("desc");
  if (desc == tags.end()) return false;
  std::string ascii;
  for (char c : desc->second) {
    if (c >= 0x20 && c < 0x7f) ascii += c;
  }
  if (ascii.find("sRGB") == std::string::npos) return false;
  // Primaries (D50-adapted XYZ, s15Fixed16) must be sRGB's.
  const double want[3][3] = {{0.4361, 0.2225, 0.0139},   // rXYZ
                             {0.3851, 0.7169, 0.0971},   // gXYZ
                             {0.1431, 0.0606, 0.7141}};  // bXYZ
  const char* names[3] = {"rXYZ", "gXYZ", "bXYZ"};
  for (int c = 0; c < 3; ++c) {
    auto t = tags.find(names[c]);
    if (t == tags.end() || t->second.size() < 20 || t->second.substr(0, 4) != "XYZ ") {
      return false;
    }
    for (int k = 0; k < 3; ++k) {
      double v = static_cast<int32_t>(Get32(t->second, 8 + 4 * k, true)) / 65536.0;
      if (std::fabs(v - want[c][k]) > 0.003) return false;
    }
  }
  return true;
}

std::optional<JpegInfo> ReadJpegInfo(ByteSource& src) {
  JpegHeaderResult hr = ReadJpegHeader(src);
  if (!hr.header) return std::nullopt;
  JpegInfo info;
  info.frame = *hr.header;
  // Second walk, to the first scan, collecting the APP segments we care about.
  const uint64_t size = src.size();
  uint64_t pos = 2;
  std::map<int, std::string> icc_chunks;
  int icc_total = -1;
  size_t icc_bytes = 0;
  bool icc_bad = false;
  bool saw_exif = false;
  for (;;) {
    uint8_t mk[4];
    if (src.ReadAt(pos, mk, 2) != 2 || mk[0] != 0xFF) break;
    uint8_t m = mk[1];
    if (m == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
      pos += 2;
      continue;
    }
    if (m == 0xDA || m == 0xD9 || m == 0xD8 || m == 0x00) break;
    if (src.ReadAt(pos + 2, mk + 2, 2) != 2) break;
    uint32_t len = static_cast<uint32_t>(mk[2] << 8 | mk[3]);
    if (len < 2 || pos + 2 + len > size) break;
    const uint64_t body = pos + 4, body_len = len - 2u;
    auto read_body = [&](size_t n) {
      std::string s(std::min<uint64_t>(n, body_len), '\0');
      s.resize(src.ReadAt(body, s.data(), s.size()));
      return s;
    };
    if (m == 0xE1 && !saw_exif) {
      std::string app1 = read_body(body_len);
      if (app1.compare(0, 6, std::string("Exif\0\0", 6)) == 0) {
        saw_exif = true;
        info.orientation = ExifOrientation(app1);
      }
    } else if (m == 0xE2 && !icc_bad) {
      std::string app2 = read_body(body_len);
      if (app2.size() >= 14 && app2.compare(0, 12, std::string("ICC_PROFILE\0", 12)) == 0) {
        int seq = static_cast<uint8_t>(app2[12]), total = static_cast<uint8_t>(app2[13]);
        icc_bytes += app2.size() - 14;
        if (seq < 1 || total < 1 || seq > total || (icc_total >= 0 && total != icc_total) ||
            icc_chunks.count(seq) || icc_bytes > kMaxIcc) {
          icc_bad = true;
        } else {
          icc_total = total;
          icc_chunks[seq] = app2.substr(14);
        }
      }
    }
    pos += 2 + len;
  }
  if (!icc_bad && icc_total > 0 && static_cast<int>(icc_chunks.size()) == icc_total) {
    for (auto& [seq, part] : icc_chunks) info.icc += part;
  }
  return info;
}

}  // namespace imgd
