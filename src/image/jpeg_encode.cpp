#include "image/jpeg_encode.h"

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
// clang-format on

#include <csetjmp>
#include <cstdlib>
#include <memory>
#include <stdexcept>

#include "core/errors.h"

namespace imgd {
namespace {

struct ErrorMgr {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool timed_out;
};

void OnError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

struct Progress {
  jpeg_progress_mgr pub;
  const Deadline* deadline;
  unsigned calls;
};

// Called per row group of every pass; the clock is read every 16th call.
void OnProgress(j_common_ptr cinfo) {
  auto* p = reinterpret_cast<Progress*>(cinfo->progress);
  if (++p->calls % 16 == 0 && p->deadline->Passed()) {
    auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
    err->timed_out = true;
    std::longjmp(err->jump, 1);
  }
}

struct EncodeState {
  jpeg_compress_struct cinfo;
  ErrorMgr err;
  Progress progress;
  unsigned char* out = nullptr;
  unsigned long out_len = 0;
  ~EncodeState() { std::free(out); }
};

}  // namespace

std::string EncodeJpeg(const Pixels& pixels, int quality, bool progressive,
                       const Deadline& deadline) {
  auto st = std::make_unique<EncodeState>();
  jpeg_compress_struct& cinfo = st->cinfo;
  cinfo.err = jpeg_std_error(&st->err.pub);
  st->err.pub.error_exit = OnError;
  st->err.timed_out = false;
  if (setjmp(st->err.jump)) {
    std::string message = st->err.message;
    jpeg_destroy_compress(&st->cinfo);
    if (st->err.timed_out) throw Unavailable("the transform took longer than its time limit", 1);
    throw std::runtime_error("JPEG encoding failed: " + message);
  }
  jpeg_create_compress(&cinfo);
  st->progress.pub.progress_monitor = OnProgress;
  st->progress.deadline = &deadline;
  st->progress.calls = 0;
  cinfo.progress = &st->progress.pub;
  jpeg_mem_dest(&cinfo, &st->out, &st->out_len);
  cinfo.image_width = static_cast<JDIMENSION>(pixels.width);
  cinfo.image_height = static_cast<JDIMENSION>(pixels.height);
  cinfo.input_components = pixels.channels;
  cinfo.in_color_space = pixels.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);  // YCbCr 4:2:0 for colour
  jpeg_set_quality(&cinfo, quality, TRUE);
  cinfo.optimize_coding = TRUE;
  cinfo.write_JFIF_header = TRUE;
  if (progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels.row(static_cast<int>(cinfo.next_scanline)));
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return std::string(reinterpret_cast<const char*>(st->out), st->out_len);
}

}  // namespace imgd
