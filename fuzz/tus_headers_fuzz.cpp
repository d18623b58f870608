// tus request headers: Upload-Metadata (base64 values, text checks) and the numeric headers.
// Refusals are ApiErrors; a parsed number must print back to the same digits.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/tus_headers.h"
#include "core/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    imgd::api::TusMetadata m = imgd::api::ParseTusMetadata(text);
    if (m.name.size() > 4 * size + 16) __builtin_trap();
  } catch (const imgd::Error&) {
  }
  if (auto n = imgd::api::ParseHeaderNumber(text)) {
    std::string back = std::to_string(*n);
    // Leading zeros are accepted; the value must still be the same digits without them.
    std::string_view digits = text;
    while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
    if (back != digits) __builtin_trap();
  }
  return 0;
}
