// The upload gate against every file of the shared corpus, with MANIFEST.tsv as the oracle.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "http/response.h"
#include "image/jpeg_validate.h"
#include "test_util.h"

using namespace imgd;
using namespace imgd::testing;

namespace {

int Classify(const std::string& bytes, JpegHeader* header = nullptr) {
  MemorySource src(bytes);
  try {
    JpegHeader h = ValidateJpeg(src, JpegLimits{}).header;
    if (header) *header = h;
    return 200;
  } catch (const Error& e) {
    // As the API answers it (the corpus manifest lists HTTP statuses).
    return static_cast<int>(http::HttpStatus(e.code()));
  }
}

}  // namespace

TEST(JpegValidate, EveryCorpusFileGetsItsExpectedAnswer) {
  auto rows = Manifest();
  ASSERT_GT(rows.size(), 80u);
  for (const auto& row : rows) {
    std::string bytes = ReadCorpus(row.path);
    JpegHeader h;
    int got = Classify(bytes, &h);
    int want = row.expected == "accept" ? 200 : row.expected == "reject-415" ? 415 : 422;
    EXPECT_EQ(got, want) << row.path;
    if (got == 200) {
      EXPECT_EQ(std::to_string(h.width), row.width) << row.path;
      EXPECT_EQ(std::to_string(h.height), row.height) << row.path;
    }
  }
}

TEST(JpegValidate, EveryTruncationOfAGoodFileIsRejected) {
  std::string good = ReadCorpus("variants/v29_1x1.jpg");
  ASSERT_EQ(Classify(good), 200);
  for (size_t n = 0; n + 2 < good.size(); ++n) {
    int got = Classify(good.substr(0, n));
    EXPECT_TRUE(got == 415 || got == 422) << n << " -> " << got;
  }
}

TEST(JpegValidate, PixelLimitAppliesBeforeDecoding) {
  std::string real = ReadCorpus("real/real_01_skagen_800x533.jpg");
  MemorySource src(real);
  JpegLimits limits;
  limits.max_pixels = 800 * 533 - 1;
  try {
    ValidateJpeg(src, limits);
    FAIL() << "expected 422";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnprocessable);
    EXPECT_EQ(e.slug(), "too-many-pixels");
  }
}

TEST(JpegHeaderWalk, ReportsWhyAFileIsMalformed) {
  MemorySource no_sof(std::string("\xff\xd8\xff\xd9", 4));
  EXPECT_FALSE(ReadJpegHeader(no_sof).header.has_value());
  MemorySource overflow(std::string("\xff\xd8\xff\xe1\xff\xff\x00\x00", 8));
  auto r = ReadJpegHeader(overflow);
  EXPECT_FALSE(r.header.has_value());
  EXPECT_NE(r.error.find("past the end"), std::string::npos);
}
