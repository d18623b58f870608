#pragma once
// The encodings a variant can have (the original always stays the JPEG that was
// uploaded), how a client names them, how `format=auto` picks one from the Accept header,
// and how the one quality scale `q` (JPEG's) maps onto each encoder's own.
#include <optional>
#include <string_view>

namespace imgd {

enum class OutputFormat { kJpeg, kWebp, kAvif };

// "jpeg", "webp", "avif": the `format` parameter's values and key fragments.
const char* FormatName(OutputFormat f);
// "image/jpeg", "image/webp", "image/avif".
const char* FormatMediaType(OutputFormat f);
// "jpeg" or "jpg", "webp", "avif"; nullopt otherwise ("auto" is negotiated, not parsed).
std::optional<OutputFormat> ParseFormat(std::string_view s);

// format=auto: AVIF when the Accept header names image/avif, else WebP when it names
// image/webp, else JPEG. A type listed with q=0 counts as refused. Wildcards (*/*,
// image/*) do not count: browsers send them with every image request, including those
// that cannot decode AVIF.
OutputFormat NegotiateFormat(std::string_view accept);

// The encoder quality that gives about the visual quality (SSIM) JPEG gives at jpeg_q,
// measured on the corpus photos (bench/tools/format_quality.cpp, docs/api.md).
int EncoderQuality(OutputFormat f, int jpeg_q);

}  // namespace imgd
