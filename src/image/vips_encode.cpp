#include "image/vips_encode.h"

#include <vips/vips.h>

#include <cstdint>
#include <memory>

#include "core/errors.h"

namespace imgd {
namespace {

struct ImageRef {
  VipsImage* image = nullptr;
  ~ImageRef() {
    if (image) g_object_unref(image);
  }
};

// A VipsImage over the pixels' own memory (no copy); it must not outlive them.
VipsImage* Wrap(const Pixels& px) {
  return vips_image_new_from_memory(px.data.data(), px.bytes(), px.width, px.height, px.channels,
                                    VIPS_FORMAT_UCHAR);
}

[[noreturn]] void Fail(const char* what) {
  std::string e = vips_error_buffer();
  vips_error_clear();
  throw std::runtime_error(std::string(what) + ": " + e);
}

std::string Take(void* buf, size_t len) {
  std::string out(static_cast<const char*>(buf), len);
  g_free(buf);
  return out;
}

uint32_t Le32(const char* p) {
  return static_cast<uint32_t>(static_cast<uint8_t>(p[0])) |
         static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(p[3])) << 24;
}

void PutLe32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

void CheckDeadline(const Deadline& deadline) {
  if (deadline.Passed()) throw Unavailable("the transform took longer than its time limit", 1);
}

}  // namespace

std::string StripWebpMetadata(std::string webp) {
  if (webp.size() < 12 || webp.compare(0, 4, "RIFF") != 0 || webp.compare(8, 4, "WEBP") != 0) {
    return webp;
  }
  auto chunk_size = [&](size_t at) {
    const uint32_t len = Le32(webp.data() + at + 4);
    return 8 + static_cast<size_t>(len) + (len & 1);  // chunks pad to even
  };
  // A first pass over the chunk headers only: malformed input is left to the decoder.
  for (size_t at = 12; at + 8 <= webp.size(); at += chunk_size(at)) {
    if (at + chunk_size(at) > webp.size()) return webp;
  }
  // Then in place: libvips puts the metadata after the image data, so erasing it moves little.
  size_t vp8x = std::string::npos;
  for (size_t at = 12; at + 8 <= webp.size();) {
    const size_t whole = chunk_size(at);
    if (webp.compare(at, 4, "EXIF") == 0 || webp.compare(at, 4, "XMP ") == 0 ||
        webp.compare(at, 4, "ICCP") == 0) {
      webp.erase(at, whole);
      continue;
    }
    if (webp.compare(at, 4, "VP8X") == 0) vp8x = at;
    at += whole;
  }
  if (vp8x != std::string::npos) {
    // The VP8X flags byte: ICC (0x20), EXIF (0x08) and XMP (0x04) are gone.
    webp[vp8x + 8] = static_cast<char>(webp[vp8x + 8] & ~(0x20 | 0x08 | 0x04));
  }
  PutLe32(webp.data() + 4, static_cast<uint32_t>(webp.size() - 8));
  return webp;
}

std::string EncodeWebp(const Pixels& pixels, int quality, const Deadline& deadline) {
  CheckDeadline(deadline);
  ImageRef in{Wrap(pixels)};
  if (!in.image) Fail("webp: wrapping pixels");
  void* buf = nullptr;
  size_t len = 0;
  // effort 4 is libwebp's default method; smart_subsample keeps edges in red and blue.
  if (vips_webpsave_buffer(in.image, &buf, &len, "Q", quality, "effort", 4, "strip", TRUE,
                           "smart_subsample", TRUE, nullptr) != 0) {
    Fail("webpsave");
  }
  // libvips 8.14 writes an EXIF chunk (resolution, colour space) even with strip.
  return StripWebpMetadata(Take(buf, len));
}

std::string EncodeAvif(const Pixels& pixels, int quality, const Deadline& deadline, int effort) {
  CheckDeadline(deadline);
  ImageRef in{Wrap(pixels)};
  if (!in.image) Fail("avif: wrapping pixels");
  void* buf = nullptr;
  size_t len = 0;
  if (vips_heifsave_buffer(in.image, &buf, &len, "Q", quality, "compression",
                           VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "effort", effort, "bitdepth", 8,
                           "subsample_mode", VIPS_FOREIGN_SUBSAMPLE_ON, "strip", TRUE,
                           nullptr) != 0) {
    Fail("heifsave");
  }
  return Take(buf, len);
}

}  // namespace imgd
