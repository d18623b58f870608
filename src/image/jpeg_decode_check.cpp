#include "image/jpeg_decode_check.h"

#include "core/errors.h"

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <memory>
#include <vector>

namespace imgd {
namespace {

constexpr size_t kChunk = 256 * 1024;

struct ErrorMgr {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char first_message[JMSG_LENGTH_MAX];
  bool failed;
  DecodeCheckResult::Failure failure;
};

[[noreturn]] void Fail(j_common_ptr cinfo, DecodeCheckResult::Failure why) {
  auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  err->failed = true;
  err->failure = why;
  std::longjmp(err->jump, 1);
}

void OnError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  if (!err->failed) (*cinfo->err->format_message)(cinfo, err->first_message);
  Fail(cinfo, DecodeCheckResult::Failure::kBadData);
}

// A warning means damaged data: stop at once. Decoding on would only spend CPU on a file
// already refused (a progressive file's remaining scans are all read before the first row).
void OnMessage(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  if (!err->failed) (*cinfo->err->format_message)(cinfo, err->first_message);
  Fail(cinfo, DecodeCheckResult::Failure::kBadData);
}

struct Progress {
  jpeg_progress_mgr pub;
  const DecodeCheckLimits* limits;
  unsigned calls;
  int scan;          // the last scan counted
  uint64_t scanned;  // blocks the scans so far walk, summed over their components
};

uint64_t BlocksOf(const jpeg_component_info* c) {
  return static_cast<uint64_t>(c->width_in_blocks) * c->height_in_blocks;
}

// Called per row of blocks of every scan, and per output row.
void OnProgress(j_common_ptr cinfo) {
  auto* p = reinterpret_cast<Progress*>(cinfo->progress);
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number != p->scan) {  // a new scan: count it and the blocks it walks
    p->scan = d->input_scan_number;
    if (p->scan > p->limits->max_scans) Fail(cinfo, DecodeCheckResult::Failure::kTooManyScans);
    uint64_t image = 0;
    for (int c = 0; c < d->num_components; ++c) image += BlocksOf(&d->comp_info[c]);
    for (int c = 0; c < d->comps_in_scan; ++c) p->scanned += BlocksOf(d->cur_comp_info[c]);
    if (p->scanned > image * static_cast<uint64_t>(p->limits->max_passes)) {
      Fail(cinfo, DecodeCheckResult::Failure::kTooMuchWork);
    }
  }
  if (++p->calls % 32 == 0 && p->limits->deadline.Passed()) {
    Fail(cinfo, DecodeCheckResult::Failure::kTimedOut);
  }
}

// Reads the ByteSource in large chunks but hands libjpeg at most kFeed bytes at a time.
// libjpeg-turbo's fast Huffman path (taken when >= 512 bytes per block of the MCU are
// buffered) silently decodes an invalid code as 0; the slow path reports it as a warning.
// Small feeds force the slow path, so corrupt entropy data (corpus bad/b15) is caught
// wherever it lies.
constexpr size_t kFeed = 256;

struct Source {
  jpeg_source_mgr pub;
  ByteSource* src;
  uint64_t next_offset;  // of the byte after buf's content
  unsigned char* buf;
  size_t buf_len;
  size_t buf_pos;  // next byte of buf to hand out
  bool eof;
  bool io_failed;  // the ByteSource threw: a storage problem, not a bad image
};

void InitSource(j_decompress_ptr) {}

boolean FillInput(j_decompress_ptr cinfo) {
  static const JOCTET kFakeEoi[2] = {0xFF, JPEG_EOI};
  auto* s = reinterpret_cast<Source*>(cinfo->src);
  if (s->buf_pos >= s->buf_len && !s->eof) {
    bool io_failed = false;
    try {
      s->buf_len = s->src->ReadAt(s->next_offset, s->buf, kChunk);
      s->next_offset += s->buf_len;
      s->buf_pos = 0;
    } catch (...) {  // never let a C++ exception unwind through libjpeg's C frames
      io_failed = true;
    }
    if (io_failed) {
      s->io_failed = true;
      ERREXIT(cinfo, JERR_FILE_READ);
    }
    if (s->buf_len == 0) s->eof = true;
  }
  if (s->buf_pos >= s->buf_len) {
    // Out of data: libjpeg's convention is a warning plus a fake EOI; OnMessage turns
    // the warning into a rejection.
    WARNMS(cinfo, JWRN_JPEG_EOF);
    s->pub.next_input_byte = kFakeEoi;
    s->pub.bytes_in_buffer = 2;
    return TRUE;
  }
  size_t n = std::min(kFeed, s->buf_len - s->buf_pos);
  s->pub.next_input_byte = s->buf + s->buf_pos;
  s->pub.bytes_in_buffer = n;
  s->buf_pos += n;
  return TRUE;
}

void SkipInput(j_decompress_ptr cinfo, long num_bytes) {
  auto* s = reinterpret_cast<Source*>(cinfo->src);
  if (num_bytes <= 0) return;
  auto n = static_cast<size_t>(num_bytes);
  if (n <= s->pub.bytes_in_buffer) {
    s->pub.next_input_byte += n;
    s->pub.bytes_in_buffer -= n;
    return;
  }
  n -= s->pub.bytes_in_buffer;
  s->pub.bytes_in_buffer = 0;
  size_t in_buf = s->buf_len - s->buf_pos;
  if (n <= in_buf) {
    s->buf_pos += n;
  } else {  // beyond what is buffered: continue reading from the new offset
    s->next_offset += n - in_buf;
    s->buf_pos = s->buf_len = 0;
  }
}

void TermSource(j_decompress_ptr) {}

// Everything libjpeg touches lives here, with no C++ destructors between setjmp and
// longjmp.
bool RunDecode(jpeg_decompress_struct* cinfo, ErrorMgr* err, Progress* progress, Source* source,
               unsigned char* row_buf, size_t row_cap, CellAccumulator* cells) {
  if (setjmp(err->jump)) {
    jpeg_destroy_decompress(cinfo);
    return false;
  }
  jpeg_create_decompress(cinfo);
  cinfo->mem->max_memory_to_use = static_cast<long>(progress->limits->max_memory);
  cinfo->progress = &progress->pub;
  cinfo->src = &source->pub;
  if (jpeg_read_header(cinfo, TRUE) != JPEG_HEADER_OK) {
    std::strcpy(err->first_message, "no image in the data");
    err->failed = true;
    jpeg_destroy_decompress(cinfo);
    return false;
  }
  cinfo->scale_num = 1;
  cinfo->scale_denom = 8;
  // At 1/8 scale the IDCT is a DC copy, so the accurate method costs nothing extra.
  cinfo->dct_method = JDCT_ISLOW;
  cinfo->do_fancy_upsampling = FALSE;
  if (cells) {
    // YCbCr output is Y first with no colour conversion (cheaper than RGB); YCCK comes out
    // as CMYK.
    if (cinfo->jpeg_color_space == JCS_YCbCr) cinfo->out_color_space = JCS_YCbCr;
    if (cinfo->jpeg_color_space == JCS_YCCK) cinfo->out_color_space = JCS_CMYK;
  }
  jpeg_start_decompress(cinfo);
  if (cells) {
    using Layout = CellAccumulator::Layout;
    Layout layout = Layout::kNone;
    switch (cinfo->out_color_space) {
      case JCS_GRAYSCALE:
        layout = Layout::kGrey;
        break;
      case JCS_YCbCr:
        layout = Layout::kYCbCr;
        break;
      case JCS_RGB:
        layout = Layout::kRgb;
        break;
      case JCS_CMYK:
        layout = Layout::kCmyk;
        break;
      default:
        break;
    }
    cells->Begin(static_cast<int>(cinfo->output_width), static_cast<int>(cinfo->output_height),
                 layout);
  }
  size_t row_bytes = static_cast<size_t>(cinfo->output_width) * cinfo->output_components;
  if (row_bytes > row_cap) {
    std::strcpy(err->first_message, "image too wide");
    err->failed = true;
    jpeg_destroy_decompress(cinfo);
    return false;
  }
  JSAMPROW row = row_buf;
  while (cinfo->output_scanline < cinfo->output_height) {
    const int y = static_cast<int>(cinfo->output_scanline);
    jpeg_read_scanlines(cinfo, &row, 1);
    if (cells) cells->AddRow(y, row);
  }
  jpeg_finish_decompress(cinfo);
  jpeg_destroy_decompress(cinfo);
  return true;
}

}  // namespace

DecodeCheckResult DecodeCheckJpeg(ByteSource& src, const DecodeCheckLimits& limits,
                                  CellAccumulator* cells) {
  auto buf = std::make_unique<unsigned char[]>(kChunk);
  // 65535 px at 1/8 scale, 4 components.
  constexpr size_t kRowCap = (65535 / 8 + 1) * 4;
  auto row = std::make_unique<unsigned char[]>(kRowCap);
  jpeg_decompress_struct cinfo{};
  ErrorMgr err{};
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = OnError;
  err.pub.emit_message = OnMessage;
  Progress progress{};
  progress.pub.progress_monitor = OnProgress;
  progress.limits = &limits;
  Source source{};
  source.pub.init_source = InitSource;
  source.pub.fill_input_buffer = FillInput;
  source.pub.skip_input_data = SkipInput;
  source.pub.resync_to_restart = jpeg_resync_to_restart;
  source.pub.term_source = TermSource;
  source.src = &src;
  source.buf = buf.get();
  DecodeCheckResult r;
  r.ok = RunDecode(&cinfo, &err, &progress, &source, row.get(), kRowCap, cells);
  if (source.io_failed) throw StoreError("reading staged upload failed");
  if (r.ok) return r;
  r.failure = err.failure == DecodeCheckResult::Failure::kNone
                  ? DecodeCheckResult::Failure::kBadData
                  : err.failure;
  switch (err.failure) {
    case DecodeCheckResult::Failure::kTooManyScans:
      r.error = "more than " + std::to_string(limits.max_scans) +
                " scans (no encoder writes that many; a scan flood costs a pass over the whole "
                "image each)";
      break;
    case DecodeCheckResult::Failure::kTooMuchWork:
      r.error = "scans that would pass over the image more than " +
                std::to_string(limits.max_passes) + " times (real encoders need at most 7)";
      break;
    case DecodeCheckResult::Failure::kTimedOut:
      r.error = "decoding took longer than the validation time limit";
      break;
    default:
      r.error = err.first_message[0] ? err.first_message : "undecodable JPEG data";
  }
  return r;
}

}  // namespace imgd
