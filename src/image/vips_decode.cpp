#include "image/vips_decode.h"

#include <vips/vips.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "core/errors.h"

namespace imgd {
namespace {

struct SourceCtx {
  ByteSource* src;
  gint64 pos = 0;
  bool io_failed = false;
};

gint64 OnRead(VipsSourceCustom*, void* buffer, gint64 length, SourceCtx* ctx) {
  if (length <= 0) return 0;
  try {
    size_t n =
        ctx->src->ReadAt(static_cast<uint64_t>(ctx->pos), buffer, static_cast<size_t>(length));
    ctx->pos += static_cast<gint64>(n);
    return static_cast<gint64>(n);
  } catch (...) {
    ctx->io_failed = true;
    return -1;
  }
}

gint64 OnSeek(VipsSourceCustom*, gint64 offset, int whence, SourceCtx* ctx) {
  const gint64 size = static_cast<gint64>(ctx->src->size());
  gint64 to = whence == SEEK_SET ? offset : whence == SEEK_CUR ? ctx->pos + offset : size + offset;
  if (to < 0 || to > size) return -1;
  ctx->pos = to;
  return to;
}

struct EvalCtx {
  const Deadline* deadline;
  bool timed_out = false;
};

void OnEval(VipsImage* image, VipsProgress*, EvalCtx* ctx) {
  if (ctx->deadline->Passed()) {
    ctx->timed_out = true;
    vips_image_set_kill(image, TRUE);
  }
}

// Unrefs every held image at scope exit.
struct Held {
  std::vector<GObject*> objects;
  template <typename T>
  T* Add(T* o) {
    objects.push_back(G_OBJECT(o));
    return o;
  }
  ~Held() {
    for (auto it = objects.rbegin(); it != objects.rend(); ++it) g_object_unref(*it);
  }
};

std::string VipsError() {
  std::string e = vips_error_buffer();
  vips_error_clear();
  while (!e.empty() && e.back() == '\n') e.pop_back();
  return e;
}

}  // namespace

void VipsStartup(const char* argv0) {
  static std::once_flag once;
  std::call_once(once, [argv0] {
    if (VIPS_INIT(argv0 ? argv0 : "imgd") != 0) throw std::runtime_error("libvips failed to start");
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    vips_concurrency_set(1);
  });
}

size_t VipsTrackedMemory() { return vips_tracked_get_mem(); }
size_t VipsTrackedMemoryHighwater() { return vips_tracked_get_mem_highwater(); }

Pixels DecodeJpegVips(ByteSource& src, const JpegInfo& info, int min_width, int min_height,
                      const Deadline& deadline) {
  int shrink = 8;
  while (shrink > 1 && ((info.frame.width + shrink - 1) / shrink < min_width ||
                        (info.frame.height + shrink - 1) / shrink < min_height)) {
    shrink /= 2;
  }
  Held held;
  SourceCtx sctx{&src};
  VipsSourceCustom* source = held.Add(vips_source_custom_new());
  g_signal_connect(source, "read", G_CALLBACK(OnRead), &sctx);
  g_signal_connect(source, "seek", G_CALLBACK(OnSeek), &sctx);

  auto fail = [&](const char* what) -> Error {
    std::string e = VipsError();
    if (sctx.io_failed) throw StoreError("reading the original failed");
    return Unprocessable(std::string(what) + ": " + e);
  };
  VipsImage* img = nullptr;
  if (vips_jpegload_source(VIPS_SOURCE(source), &img, "shrink", shrink, "fail_on",
                           VIPS_FAIL_ON_ERROR, nullptr) != 0) {
    throw fail("the image cannot be decoded");
  }
  held.Add(img);
  // Colour to sRGB: the embedded profile when there is one, libvips' CMYK profile for
  // CMYK without one. (The Adobe inversion of CMYK/YCCK is undone by jpegload.)
  const bool has_icc = vips_image_get_typeof(img, VIPS_META_ICC_NAME) != 0;
  const bool cmyk = img->Type == VIPS_INTERPRETATION_CMYK || img->Bands == 4;
  if (has_icc || cmyk) {
    VipsImage* t = nullptr;
    if (vips_icc_transform(img, &t, "srgb", "embedded", TRUE, "input_profile",
                           cmyk ? "cmyk" : "srgb", "intent", VIPS_INTENT_RELATIVE, nullptr) != 0) {
      // A broken embedded profile: fall back to interpreting the numbers as sRGB/CMYK.
      vips_error_clear();
      if (cmyk) {
        if (vips_icc_transform(img, &t, "srgb", "embedded", FALSE, "input_profile", "cmyk",
                               nullptr) != 0) {
          throw fail("the CMYK image cannot be converted to sRGB");
        }
      } else {
        t = img;
        g_object_ref(t);
      }
    }
    img = held.Add(t);
  }
  if (img->BandFmt != VIPS_FORMAT_UCHAR) {
    VipsImage* t = nullptr;
    if (vips_cast_uchar(img, &t, nullptr) != 0) throw fail("the image cannot be converted");
    img = held.Add(t);
  }
  if (img->Bands != 1 && img->Bands != 3) {
    VipsImage* t = nullptr;
    if (vips_extract_band(img, &t, 0, "n", img->Bands > 3 ? 3 : 1, nullptr) != 0) {
      throw fail("the image cannot be converted");
    }
    img = held.Add(t);
  }
  EvalCtx ectx{&deadline};
  vips_image_set_progress(img, TRUE);
  g_signal_connect(img, "eval", G_CALLBACK(OnEval), &ectx);
  // Evaluated straight into the pipeline's buffer: no copy of the decoded pixels.
  Pixels out = Pixels::Make(img->Xsize, img->Ysize, img->Bands);
  VipsImage* dest = held.Add(vips_image_new_from_memory(out.data.data(), out.bytes(), img->Xsize,
                                                        img->Ysize, img->Bands, VIPS_FORMAT_UCHAR));
  if (!dest || vips_image_write(img, dest) != 0) {
    if (ectx.timed_out) {
      vips_error_clear();
      throw Unavailable("the transform took longer than its time limit", 1);
    }
    throw fail("the image cannot be decoded");
  }
  return out;
}

}  // namespace imgd
