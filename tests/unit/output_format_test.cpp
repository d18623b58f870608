// Output formats: how clients name them, how format=auto reads Accept, the quality
// mapping, the keys formats give variants, and WebP metadata stripping.
#include "image/output_format.h"

#include <gtest/gtest.h>

#include "core/errors.h"
#include "image/transform_spec.h"
#include "image/vips_encode.h"

namespace imgd {
namespace {

TEST(OutputFormat, NamesAndParsing) {
  EXPECT_EQ(ParseFormat("jpg"), OutputFormat::kJpeg);
  EXPECT_EQ(ParseFormat("jpeg"), OutputFormat::kJpeg);
  EXPECT_EQ(ParseFormat("webp"), OutputFormat::kWebp);
  EXPECT_EQ(ParseFormat("avif"), OutputFormat::kAvif);
  EXPECT_EQ(ParseFormat("auto"), std::nullopt);  // negotiated before parsing
  EXPECT_EQ(ParseFormat("WEBP"), std::nullopt);
  EXPECT_STREQ(FormatMediaType(OutputFormat::kAvif), "image/avif");
}

TEST(OutputFormat, NegotiatesFromAcceptIgnoringWildcardsAndRefusals) {
  EXPECT_EQ(NegotiateFormat("image/avif,image/webp,image/apng,image/*,*/*;q=0.8"),
            OutputFormat::kAvif);  // Chrome
  EXPECT_EQ(NegotiateFormat("image/webp,*/*"), OutputFormat::kWebp);
  EXPECT_EQ(NegotiateFormat("image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"),
            OutputFormat::kJpeg);  // an old browser: wildcards do not count
  EXPECT_EQ(NegotiateFormat(""), OutputFormat::kJpeg);
  EXPECT_EQ(NegotiateFormat("image/avif;q=0, image/webp;q=0.5"), OutputFormat::kWebp);
  EXPECT_EQ(NegotiateFormat("image/avif; q=0.000, image/webp; q=0"), OutputFormat::kJpeg);
  EXPECT_EQ(NegotiateFormat("IMAGE/AVIF;Q=0.9"), OutputFormat::kAvif);
  EXPECT_EQ(NegotiateFormat("image/avifx, image/webpx"), OutputFormat::kJpeg);
}

TEST(OutputFormat, QualityMappingIsMonotonicAndJpegIsIdentity) {
  for (OutputFormat f : {OutputFormat::kWebp, OutputFormat::kAvif}) {
    int last = 0;
    for (int q = 1; q <= 100; ++q) {
      const int e = EncoderQuality(f, q);
      EXPECT_GE(e, last) << FormatName(f) << " q" << q;
      EXPECT_GE(e, 1);
      EXPECT_LE(e, 100);
      last = e;
    }
  }
  for (int q = 1; q <= 100; ++q) EXPECT_EQ(EncoderQuality(OutputFormat::kJpeg, q), q);
  EXPECT_EQ(EncoderQuality(OutputFormat::kWebp, 80), 88);  // the measured points
  EXPECT_EQ(EncoderQuality(OutputFormat::kAvif, 80), 77);
}

TEST(OutputFormat, FormatsAreTheirOwnVariantsAndJpegKeysDoNotChange) {
  TransformSpec s;
  s.width = 300;
  EXPECT_EQ(s.Canonical(), "w300-q80");
  s.format = OutputFormat::kWebp;
  EXPECT_EQ(s.Canonical(), "w300-q80-webp");
  EXPECT_EQ(s.QueryParams().at("format"), "webp");
  s.progressive = true;  // JPEG only: the same WebP variant
  EXPECT_EQ(s.Canonical(), "w300-q80-webp");
  EXPECT_EQ(s.QueryParams().count("progressive"), 0u);
  TransformLimits limits;
  EXPECT_EQ(ParseTransformQuery({{"w", "300"}, {"format", "avif"}}, limits).format,
            OutputFormat::kAvif);
  EXPECT_EQ(ParseTransformQuery({{"w", "300"}, {"format", "jpg"}}, limits).Canonical(), "w300-q80");
  try {
    ParseTransformQuery({{"w", "300"}, {"format", "png"}}, limits);
    FAIL() << "png accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.extra().at("parameter").as_string(), "format");
  }
}

std::string Chunk(const std::string& fourcc, const std::string& body) {
  std::string c = fourcc;
  const uint32_t n = static_cast<uint32_t>(body.size());
  for (int i = 0; i < 4; ++i) c += static_cast<char>((n >> (8 * i)) & 0xff);
  c += body;
  if (body.size() & 1) c += '\0';
  return c;
}

std::string Riff(const std::string& chunks) {
  std::string r = "RIFF";
  const uint32_t n = static_cast<uint32_t>(chunks.size() + 4);
  for (int i = 0; i < 4; ++i) r += static_cast<char>((n >> (8 * i)) & 0xff);
  return r + "WEBP" + chunks;
}

TEST(StripWebpMetadata, DropsExifXmpAndIccAndFixesFlagsAndSize) {
  std::string vp8x(10, '\0');
  vp8x[0] = 0x20 | 0x08 | 0x04 | 0x10;  // ICC, EXIF, XMP, and alpha (kept)
  const std::string image = Chunk("VP8 ", "frame-bytes");
  const std::string in = Riff(Chunk("VP8X", vp8x) + Chunk("ICCP", "profile") + image +
                              Chunk("EXIF", "Exif-II*") + Chunk("XMP ", "<x:xmpmeta/>"));
  const std::string out = StripWebpMetadata(in);
  EXPECT_EQ(out, [&] {
    std::string flags = vp8x;
    flags[0] = 0x10;
    return Riff(Chunk("VP8X", flags) + image);
  }());
  // Not a WebP, or cut short: unchanged.
  EXPECT_EQ(StripWebpMetadata("\xff\xd8\xff"), "\xff\xd8\xff");
  const std::string cut = in.substr(0, in.size() - 5);
  EXPECT_EQ(StripWebpMetadata(cut), cut);
}

}  // namespace
}  // namespace imgd
