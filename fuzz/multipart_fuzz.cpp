// The streaming multipart/form-data parser: the first line of the input is the
// Content-Type, the rest the body, fed in pieces whose sizes come from the input too.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/errors.h"
#include "http/multipart.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  if (nl == std::string_view::npos) return 0;
  auto boundary = imgd::http::MultipartBoundary(in.substr(0, nl));
  if (!boundary) return 0;
  std::string_view body = in.substr(nl + 1);
  size_t parts = 0, bytes = 0;
  imgd::http::MultipartParser parser(*boundary,
                                     {[&](const imgd::http::PartInfo&) { ++parts; },
                                      [&](std::span<const char> d) { bytes += d.size(); }, [] {}});
  try {
    // Piece sizes cycle through the body's own bytes, so splits land everywhere.
    size_t i = 0, turn = 0;
    while (i < body.size()) {
      size_t n = 1 + static_cast<unsigned char>(body[turn++ % body.size()]) % 97;
      n = std::min(n, body.size() - i);
      parser.Feed(std::span<const char>(body.data() + i, n));
      i += n;
    }
  } catch (const imgd::Error&) {
  }
  if (bytes > body.size()) __builtin_trap();  // a part can never hold more than was fed
  return 0;
}
