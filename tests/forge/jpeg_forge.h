#pragma once
// Hand-made greyscale JPEGs for the hostile-input tests and the scan fuzzer: every block is
// flat (all coefficients zero), so any size costs a few bits per block and a progressive
// file may carry as many scans as its script lists. Header-only; tests and fuzz targets
// include it.
#include <cstdint>
#include <string>
#include <vector>

namespace imgd::forge {

struct Scan {
  int ss = 0, se = 0, ah = 0, al = 0;  // spectral band and successive approximation
};

class BitWriter {
 public:
  void Put(uint32_t bits, int n) {
    for (int i = n - 1; i >= 0; --i) {
      acc_ = (acc_ << 1) | ((bits >> i) & 1);
      if (++used_ == 8) Flush();
    }
  }
  // Pads the last byte with 1 bits, as the standard asks, and returns the bytes.
  std::string Finish() {
    while (used_ != 0) Put(1, 1);
    return std::move(out_);
  }

 private:
  void Flush() {
    out_ += static_cast<char>(acc_);
    if (acc_ == 0xFF) out_ += '\0';  // byte stuffing
    acc_ = 0;
    used_ = 0;
  }
  std::string out_;
  uint32_t acc_ = 0;
  int used_ = 0;
};

inline void Marker(std::string& out, uint8_t m, const std::vector<uint8_t>& body) {
  out += '\xFF';
  out += static_cast<char>(m);
  const size_t len = body.size() + 2;
  out += static_cast<char>(len >> 8);
  out += static_cast<char>(len & 0xFF);
  out.append(body.begin(), body.end());
}

// DC table 0: category 0 only, code "0". AC table 0: EOB0..EOB14 (symbols r<<4), 4-bit
// codes 0000..1110 in symbol order.
inline void Tables(std::string& out) {
  std::vector<uint8_t> dht(2 * 17, 0);
  dht[0] = 0x00;     // DC table 0
  dht[1] = 1;        // one code of length 1
  dht[17] = 0x00;    // its symbol: category 0
  dht[18] = 0x10;    // AC table 0
  dht[18 + 4] = 15;  // fifteen codes of length 4
  dht.resize(18 + 17);
  for (int r = 0; r <= 14; ++r) dht.push_back(static_cast<uint8_t>(r << 4));
  Marker(out, 0xC4, dht);
}

inline std::string Start(int width, int height, bool progressive) {
  std::string out = "\xFF\xD8";
  std::vector<uint8_t> dqt(65, 1);
  dqt[0] = 0x00;  // 8-bit table 0
  Marker(out, 0xDB, dqt);
  Marker(out, progressive ? 0xC2 : 0xC0,
         {8, static_cast<uint8_t>(height >> 8), static_cast<uint8_t>(height & 0xFF),
          static_cast<uint8_t>(width >> 8), static_cast<uint8_t>(width & 0xFF), 1, 1, 0x11, 0});
  Tables(out);
  return out;
}

inline uint64_t Blocks(int width, int height) {
  return static_cast<uint64_t>((width + 7) / 8) * static_cast<uint64_t>((height + 7) / 8);
}

inline void Sos(std::string& out, const Scan& s) {
  Marker(out, 0xDA,
         {1, 1, 0x00, static_cast<uint8_t>(s.ss), static_cast<uint8_t>(s.se),
          static_cast<uint8_t>((s.ah << 4) | s.al)});
}

// A valid baseline greyscale JPEG of any size: five bits per block.
inline std::string Baseline(int width, int height) {
  std::string out = Start(width, height, false);
  Sos(out, {0, 63, 0, 0});
  BitWriter bits;
  for (uint64_t b = Blocks(width, height); b > 0; --b) {
    bits.Put(0, 1);  // DC difference 0
    bits.Put(0, 4);  // EOB
  }
  out += bits.Finish();
  out += "\xFF\xD9";
  return out;
}

// A progressive greyscale JPEG with the given scans. DC scans code one "0" bit per block
// (first) or one correction bit (refinement); AC scans cover every block with EOB runs,
// a few bytes however large the image.
inline std::string Progressive(int width, int height, const std::vector<Scan>& scans) {
  std::string out = Start(width, height, true);
  const uint64_t blocks = Blocks(width, height);
  for (const Scan& s : scans) {
    Sos(out, s);
    BitWriter bits;
    if (s.ss == 0) {
      for (uint64_t b = blocks; b > 0; --b) bits.Put(0, 1);
    } else {
      for (uint64_t left = blocks; left > 0;) {
        const uint64_t run = left > 32767 ? 32767 : left;
        int r = 0;
        while ((2ull << r) <= run) ++r;
        bits.Put(static_cast<uint32_t>(r), 4);  // EOBr's code is r in 4 bits
        bits.Put(static_cast<uint32_t>(run - (1ull << r)), r);
        left -= run;
      }
    }
    out += bits.Finish();
  }
  out += "\xFF\xD9";
  return out;
}

// The longest valid progression of a greyscale image: the DC scan, then each of the 63 AC
// coefficients in its own band, first at Al=13 and refined bit by bit to Al=0 (883 scans),
// cut to `count` scans.
inline std::vector<Scan> LongestProgression(size_t count) {
  std::vector<Scan> scans = {{0, 0, 0, 0}};
  for (int k = 1; k <= 63 && scans.size() < count; ++k) {
    scans.push_back({k, k, 0, 13});
    for (int ah = 13; ah >= 1 && scans.size() < count; --ah) scans.push_back({k, k, ah, ah - 1});
  }
  if (scans.size() > count) scans.resize(count);
  return scans;
}

}  // namespace imgd::forge
