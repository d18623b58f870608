#include "image/jpeg_fast_decode.h"

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "core/errors.h"

namespace imgd {
namespace {

constexpr size_t kChunk = 256 * 1024;

// Byte ranges of the file to feed libjpeg, in order.
using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;  // {offset, length}

bool IsRst(uint8_t m) { return m >= 0xD0 && m <= 0xD7; }

// Sequential byte reader over a ByteSource.
class Scanner {
 public:
  explicit Scanner(ByteSource& src) : src_(src), size_(src.size()) {}
  uint64_t pos() const { return pos_; }
  bool Byte(uint8_t& b) {
    if (pos_ >= size_) return false;
    if (pos_ < start_ || pos_ >= start_ + len_) {
      start_ = pos_;
      len_ = src_.ReadAt(pos_, buf_.data(), buf_.size());
      if (len_ == 0) return false;
    }
    b = buf_[pos_ - start_];
    ++pos_;
    return true;
  }
  void Seek(uint64_t p) { pos_ = p; }
  // Advances to the next marker that ends entropy-coded data (0xFF followed by neither
  // 0x00 nor RSTn nor 0xFF); leaves pos at its 0xFF. False at the end of the data.
  bool SkipEntropyData() {
    for (;;) {
      if (pos_ >= size_) return false;
      if (pos_ < start_ || pos_ >= start_ + len_) {
        start_ = pos_;
        len_ = src_.ReadAt(pos_, buf_.data(), buf_.size());
        if (len_ == 0) return false;
      }
      const uint8_t* base = buf_.data() + (pos_ - start_);
      const size_t avail = static_cast<size_t>(start_ + len_ - pos_);
      const void* ff = std::memchr(base, 0xFF, avail);
      if (!ff) {
        pos_ += avail;
        continue;
      }
      pos_ += static_cast<const uint8_t*>(ff) - base;
      const uint64_t at = pos_;
      uint8_t m = 0xFF;
      ++pos_;
      while (m == 0xFF) {
        if (!Byte(m)) return false;
      }
      if (m != 0x00 && !IsRst(m)) {
        pos_ = at;
        return true;
      }
    }
  }

 private:
  ByteSource& src_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(kChunk);
  uint64_t start_ = 0;
  size_t len_ = 0;
};

// The parts of a progressive JPEG that carry DC coefficients: every marker segment, and
// every scan with Ss == 0 with its entropy data; AC scans are left out. Empty when the
// structure is not as expected (the caller then decodes the whole file).
Ranges DcOnlyRanges(ByteSource& src) {
  Ranges out;
  Scanner s(src);
  uint8_t b0, b1;
  if (!s.Byte(b0) || !s.Byte(b1) || b0 != 0xFF || b1 != 0xD8) return {};
  out.push_back({0, 2});
  for (;;) {
    uint8_t ff, m;
    if (!s.Byte(ff) || ff != 0xFF) return {};
    do {
      if (!s.Byte(m)) return {};
    } while (m == 0xFF);
    const uint64_t marker_at = s.pos() - 2;
    if (m == 0xD9) {
      out.push_back({marker_at, 2});
      return out;
    }
    if (IsRst(m) || m == 0x01) continue;
    uint8_t hi, lo;
    if (!s.Byte(hi) || !s.Byte(lo)) return {};
    const uint32_t len = static_cast<uint32_t>(hi << 8 | lo);
    if (len < 2) return {};
    if (IsSofMarker(m)) {
      // libjpeg decodes a component subsampled both ways with a 2x2 (or larger) IDCT at
      // 1/8, which reads AC terms too: the trick would soften its colour. Not for those.
      uint8_t frame[6];
      for (uint8_t& b : frame) {
        if (!s.Byte(b)) return {};
      }
      const int n = frame[5];
      std::vector<std::pair<int, int>> hv;
      for (int i = 0; i < n; ++i) {
        uint8_t id, f, tq;
        if (!s.Byte(id) || !s.Byte(f) || !s.Byte(tq)) return {};
        hv.push_back({f >> 4, f & 15});
      }
      int max_h = 1, max_v = 1;
      for (auto [h, v] : hv) max_h = std::max(max_h, h), max_v = std::max(max_v, v);
      for (auto [h, v] : hv) {
        if (h > 0 && v > 0 && max_h / h >= 2 && max_v / v >= 2) return {};
      }
    }
    if (m != 0xDA) {
      out.push_back({marker_at, 2u + len});
      s.Seek(marker_at + 2 + len);
      continue;
    }
    // SOS: Ns, Ns x (id, tables), Ss, Se, AhAl.
    uint8_t ns;
    if (!s.Byte(ns) || len != 6u + 2u * ns) return {};
    s.Seek(s.pos() + 2u * ns);
    uint8_t ss;
    if (!s.Byte(ss)) return {};
    s.Seek(marker_at + 2 + len);
    const bool keep = ss == 0;
    if (!s.SkipEntropyData()) {
      // Truncated after the last scan: keep what there is and let libjpeg end it.
      if (keep) out.push_back({marker_at, src.size() - marker_at});
      return out;
    }
    if (keep) out.push_back({marker_at, s.pos() - marker_at});
  }
}

struct ErrorMgr {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool timed_out;
  bool io_failed;
};

void OnError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void OnMessage(j_common_ptr, int) {}  // warnings: the bytes were validated at upload

struct Progress {
  jpeg_progress_mgr pub;
  const Deadline* deadline;
};

void OnProgress(j_common_ptr cinfo) {
  auto* p = reinterpret_cast<Progress*>(cinfo->progress);
  if (p->deadline->Passed()) {
    auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
    err->timed_out = true;
    std::longjmp(err->jump, 1);
  }
}

struct Source {
  jpeg_source_mgr pub;
  ByteSource* src;
  const Ranges* ranges;
  size_t range_index;
  uint64_t range_done;  // bytes of the current range already handed out
  std::vector<unsigned char> buf;
};

void InitSource(j_decompress_ptr) {}

boolean FillInput(j_decompress_ptr cinfo) {
  static const JOCTET kFakeEoi[2] = {0xFF, JPEG_EOI};
  auto* s = reinterpret_cast<Source*>(cinfo->src);
  size_t got = 0;
  while (got == 0 && s->range_index < s->ranges->size()) {
    auto [off, len] = (*s->ranges)[s->range_index];
    const uint64_t want = std::min<uint64_t>(len - s->range_done, s->buf.size());
    bool io_failed = false;
    try {
      got = s->src->ReadAt(off + s->range_done, s->buf.data(), static_cast<size_t>(want));
    } catch (...) {  // never unwind a C++ exception through libjpeg's C frames
      io_failed = true;
    }
    if (io_failed) {
      reinterpret_cast<ErrorMgr*>(cinfo->err)->io_failed = true;
      ERREXIT(cinfo, JERR_FILE_READ);
    }
    s->range_done += got;
    if (got == 0 || s->range_done >= len) {
      ++s->range_index;
      s->range_done = 0;
    }
  }
  if (got == 0) {
    cinfo->src->next_input_byte = kFakeEoi;
    cinfo->src->bytes_in_buffer = 2;
    return TRUE;
  }
  cinfo->src->next_input_byte = s->buf.data();
  cinfo->src->bytes_in_buffer = got;
  return TRUE;
}

void SkipInput(j_decompress_ptr cinfo, long n) {
  if (n <= 0) return;
  auto* sm = cinfo->src;
  while (n > static_cast<long>(sm->bytes_in_buffer)) {
    n -= static_cast<long>(sm->bytes_in_buffer);
    FillInput(cinfo);
  }
  sm->next_input_byte += n;
  sm->bytes_in_buffer -= static_cast<size_t>(n);
}

void TermSource(j_decompress_ptr) {}

// Everything libjpeg touches lives on the heap: longjmp never leaves a local in doubt.
struct DecodeState {
  jpeg_decompress_struct cinfo;
  ErrorMgr err;
  Progress progress;
  Source source;
  Ranges ranges;
  Pixels out;
};

}  // namespace

bool CanDecodeFast(const JpegInfo& info) {
  const int c = info.frame.components;
  return info.frame.precision == 8 && (c == 1 || c == 3);
}

int FastDecodeScale(int width, int height, int min_width, int min_height) {
  // The scaled IDCTs alias: at 1/8 and 1/4 they are close to box filters, so leave the
  // Lanczos resample at least a factor of 3 after them; after 3/8 and 1/2 at least 1.25.
  // (Measured against libvips' full-resolution Lanczos-3 resize on the corpus photos; see
  // transform_test.) 5/8..7/8 cost as much as a full decode with libjpeg-turbo 2.1.
  for (int m : {1, 2, 3, 4}) {
    const double need = m <= 2 ? 3.0 : 1.25;
    const double w = std::ceil(width * m / 8.0), h = std::ceil(height * m / 8.0);
    if (w >= min_width * need && h >= min_height * need) return m;
  }
  return 8;
}

Pixels DecodeJpegFast(ByteSource& src, const JpegInfo& info, int min_width, int min_height,
                      const Deadline& deadline) {
  auto st = std::make_unique<DecodeState>();
  const int scale = FastDecodeScale(info.frame.width, info.frame.height, min_width, min_height);
  if (scale == 1 && info.frame.progressive) st->ranges = DcOnlyRanges(src);
  if (st->ranges.empty()) st->ranges.push_back({0, src.size()});

  jpeg_decompress_struct& cinfo = st->cinfo;
  cinfo.err = jpeg_std_error(&st->err.pub);
  st->err.pub.error_exit = OnError;
  st->err.pub.emit_message = OnMessage;
  st->err.timed_out = false;
  st->err.io_failed = false;
  if (setjmp(st->err.jump)) {
    const bool timed_out = st->err.timed_out, io_failed = st->err.io_failed;
    std::string message = st->err.message;
    jpeg_destroy_decompress(&st->cinfo);
    if (timed_out) throw Unavailable("the transform took longer than its time limit", 1);
    if (io_failed) throw StoreError("reading the original failed");
    throw Unprocessable("the image cannot be decoded: " + message);
  }
  jpeg_create_decompress(&cinfo);
  st->progress.pub.progress_monitor = OnProgress;
  st->progress.deadline = &deadline;
  cinfo.progress = &st->progress.pub;

  st->source.pub.init_source = InitSource;
  st->source.pub.fill_input_buffer = FillInput;
  st->source.pub.skip_input_data = SkipInput;
  st->source.pub.resync_to_restart = jpeg_resync_to_restart;
  st->source.pub.term_source = TermSource;
  st->source.pub.bytes_in_buffer = 0;
  st->source.pub.next_input_byte = nullptr;
  st->source.src = &src;
  st->source.ranges = &st->ranges;
  st->source.range_index = 0;
  st->source.range_done = 0;
  st->source.buf.resize(kChunk);
  cinfo.src = &st->source.pub;

  jpeg_read_header(&cinfo, TRUE);
  cinfo.scale_num = static_cast<unsigned>(scale);
  cinfo.scale_denom = 8;
  cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  cinfo.do_block_smoothing = FALSE;  // only guesses at AC coefficients we chose not to read
  jpeg_start_decompress(&cinfo);
  st->out = Pixels::Make(static_cast<int>(cinfo.output_width),
                         static_cast<int>(cinfo.output_height), cinfo.output_components);
  for (unsigned iteration = 1; cinfo.output_scanline < cinfo.output_height; ++iteration) {
    JSAMPROW rows[4];
    int n = 0;
    for (; n < 4 && cinfo.output_scanline + n < cinfo.output_height; ++n) {
      rows[n] = st->out.row(static_cast<int>(cinfo.output_scanline) + n);
    }
    jpeg_read_scanlines(&cinfo, rows, static_cast<JDIMENSION>(n));
    if (iteration % 16 == 0 && deadline.Passed()) {
      st->err.timed_out = true;
      std::longjmp(st->err.jump, 1);
    }
  }
  // Anything after the last scan row (trailing scans, garbage) is of no interest.
  jpeg_abort_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return std::move(st->out);
}

}  // namespace imgd
