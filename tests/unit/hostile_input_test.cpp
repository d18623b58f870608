// Requests that would buy more CPU or memory than a limit allows: scan floods and huge
// images at the upload gate, oversized variants and slow resamples and encodes in the
// transform pipeline. Each must be refused by its limit, before the cost is paid.
#include <gtest/gtest.h>

#include <string>

#include "../forge/jpeg_forge.h"
#include "core/errors.h"
#include "core/memory_source.h"
#include "image/jpeg_decode_check.h"
#include "image/jpeg_encode.h"
#include "image/jpeg_info.h"
#include "image/jpeg_validate.h"
#include "image/resample.h"
#include "image/transform.h"
#include "test_util.h"

namespace imgd {
namespace {

// The slug of the Error f throws, "" when it throws none.
template <typename F>
std::string Slug(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.slug();
  }
  return "";
}

std::string Validate(const std::string& bytes, JpegLimits limits = {}) {
  return Slug([&] {
    MemorySource src(bytes);
    ValidateJpeg(src, limits);
  });
}

TEST(ScanFlood, TheForgedFilesAreValidJpegs) {
  EXPECT_EQ(Validate(forge::Baseline(300, 200)), "");
  // 40 scans of a valid progression decode without a warning when the cap allows them.
  JpegLimits limits;
  limits.max_scans = limits.max_passes = 1000;
  EXPECT_EQ(Validate(forge::Progressive(640, 480, forge::LongestProgression(40)), limits), "");
  EXPECT_EQ(forge::LongestProgression(10000).size(), 883u);
}

TEST(ScanFlood, ScanCapIsExact) {
  const std::string at_cap = forge::Progressive(1024, 1024, forge::LongestProgression(100));
  const std::string over = forge::Progressive(1024, 1024, forge::LongestProgression(101));
  JpegLimits limits;
  limits.max_passes = 1000;  // only the scan count
  EXPECT_EQ(Validate(at_cap, limits), "");
  EXPECT_EQ(Validate(over, limits), "too-many-scans");
  MemorySource src(over);
  DecodeCheckLimits dl;
  dl.max_passes = 1000;
  EXPECT_EQ(DecodeCheckJpeg(src, dl).failure, DecodeCheckResult::Failure::kTooManyScans);
}

TEST(ScanFlood, WorkIsBoundedByPassesOverTheImage) {
  // Every scan of a greyscale image walks all its blocks: 20 scans are 20 passes.
  EXPECT_EQ(Validate(forge::Progressive(1024, 1024, forge::LongestProgression(20))), "");
  const std::string over = forge::Progressive(1024, 1024, forge::LongestProgression(21));
  EXPECT_EQ(Validate(over), "too-many-scans");
  MemorySource src(over);
  DecodeCheckResult r = DecodeCheckJpeg(src, DecodeCheckLimits{});
  EXPECT_EQ(r.failure, DecodeCheckResult::Failure::kTooMuchWork);
  EXPECT_NE(r.error.find("more than 20 times"), std::string::npos) << r.error;
}

TEST(ScanFlood, AValidProgressionOf883ScansIsRefusedAfter20Passes) {
  // 250 k blocks: the DC scan is 31 KB, every AC scan 30 bytes, and each is a pass over
  // every block. (test_exhaustion sends the 100-megapixel one to a server.)
  const std::string bomb = forge::Progressive(4000, 4000, forge::LongestProgression(883));
  EXPECT_LT(bomb.size(), 70'000u);
  MemorySource src(bomb);
  DecodeCheckResult r = DecodeCheckJpeg(src, DecodeCheckLimits{});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failure, DecodeCheckResult::Failure::kTooMuchWork);
}

TEST(ScanFlood, AnInvalidProgressionStopsAtItsFirstWarning) {
  // AC scans with no DC scan before them: libjpeg warns and would read on; the gate stops.
  std::vector<forge::Scan> scans(200, forge::Scan{1, 63, 0, 0});
  EXPECT_EQ(Validate(forge::Progressive(10000, 10000, scans)), "undecodable-jpeg");
}

TEST(ScanFlood, TheRealProgressiveFilesHaveFewScans) {
  // The corpus' progressive files (libjpeg, mozjpeg, jpegtran, arithmetic) have 10 scans.
  JpegLimits limits;
  limits.max_scans = 10;
  for (const char* path :
       {"real/real_02_honeybee_1620x1280.jpg", "variants/v02_progressive_q85_420.jpg",
        "variants/v14_arithmetic_progressive.jpg", "variants/v17_progressive_restart2.jpg",
        "duplicates/dup_g1_f_cups_lossless_progressive.jpg"}) {
    EXPECT_EQ(Validate(testing::ReadCorpus(path), limits), "") << path;
  }
}

TEST(DecodeDeadline, AValidationPastItsDeadlineIs422) {
  const std::string big = forge::Baseline(8000, 8000);
  MemorySource src(big);
  DecodeCheckLimits limits;
  limits.deadline = Deadline{std::chrono::steady_clock::now()};
  DecodeCheckResult r = DecodeCheckJpeg(src, limits);
  EXPECT_EQ(r.failure, DecodeCheckResult::Failure::kTimedOut);
  JpegLimits jl;
  jl.decode_timeout = std::chrono::milliseconds(0);
  EXPECT_EQ(Validate(big, jl), "decode-timeout");
}

TEST(PixelLimit, AHugeButValidImageAtTheLimitPassesAndOnePixelRowMoreDoesNot) {
  JpegLimits limits;  // 100 M pixels
  EXPECT_EQ(Validate(forge::Baseline(10000, 10000), limits), "");
  EXPECT_EQ(Validate(forge::Baseline(10000, 10001), limits), "too-many-pixels");
  EXPECT_EQ(Validate(forge::Progressive(10000, 10001, forge::LongestProgression(1)), limits),
            "too-many-pixels");
}

JpegInfo Info(int width, int height, int orientation = 1) {
  JpegInfo info;
  info.frame.width = width;
  info.frame.height = height;
  info.frame.components = 3;
  info.frame.precision = 8;
  info.frame.sof_marker = 0xC0;
  info.orientation = orientation;
  return info;
}

TransformSpec Spec(int w, int h, Fit fit = Fit::kCover, bool enlarge = false) {
  TransformSpec s;
  s.width = w;
  s.height = h;
  s.fit = fit;
  s.enlarge = enlarge;
  return s;
}

TEST(TransformCost, TheOutputCapAppliesToTheFinalSizeWhateverWasAsked) {
  const TransformLimits limits;  // 40 M output pixels, 1 GiB per request
  auto cost = [&](const JpegInfo& info, const TransformSpec& spec) {
    return Slug([&] { CheckTransformCost(info, spec, limits); });
  };
  // One side given, enlarged: 8192 x 32768 = 268 M pixels.
  EXPECT_EQ(cost(Info(1000, 4000), Spec(8192, 0, Fit::kCover, true)), "output-too-large");
  EXPECT_EQ(cost(Info(1000, 65535), Spec(8192, 0, Fit::kCover, true)), "output-too-large");
  EXPECT_EQ(cost(Info(4000, 1000), Spec(0, 8192, Fit::kCover, true)), "output-too-large");
  // Rotated by EXIF: the upright frame is what counts.
  EXPECT_EQ(cost(Info(4000, 1000, 6), Spec(8192, 0, Fit::kCover, true)), "output-too-large");
  EXPECT_EQ(cost(Info(1000, 1000), Spec(8192, 8192, Fit::kInside, true)), "output-too-large");
  EXPECT_EQ(cost(Info(1000, 1000), Spec(8192, 8192, Fit::kFill)), "");  // box shrinks to fit
  EXPECT_EQ(cost(Info(1000, 1000), Spec(8192, 8192, Fit::kContain, true)), "output-too-large");
  // Without enlarge the same request is the original's size: fine.
  EXPECT_EQ(cost(Info(1000, 4000), Spec(8192, 0)), "");
  EXPECT_EQ(cost(Info(1000, 4000), Spec(8192, 1)), "");
  // cover with one tiny side: the scaled image would be 8192 x 32768, but only the 8192 x 1
  // window it keeps is resampled, so it costs little more than the decode.
  EXPECT_EQ(cost(Info(1000, 4000), Spec(8192, 1, Fit::kCover, true)), "");
  EXPECT_LT(PredictTransformMemory(Info(1000, 4000), Spec(8192, 1, Fit::kCover, true)), 32u << 20);
  EXPECT_LT(PredictTransformMemory(Info(1000, 65500, 6), Spec(8192, 1, Fit::kCover, true)),
            256u << 20);
  // An ordinary thumbnail and a full-size copy of a 24 MP photo are well within.
  EXPECT_EQ(cost(Info(6000, 4000), Spec(300, 200)), "");
  EXPECT_EQ(cost(Info(6000, 4000), Spec(6000, 0)), "");
}

TEST(TransformCost, ThePredictionIsCheckedAgainstTheConfiguredCeiling) {
  TransformLimits limits;
  const JpegInfo info = Info(4000, 3000);
  const uint64_t need = PredictTransformMemory(info, Spec(4000, 0));
  limits.max_request_memory = need;
  EXPECT_EQ(CheckTransformCost(info, Spec(4000, 0), limits), need);
  limits.max_request_memory = need - 1;
  EXPECT_EQ(Slug([&] { CheckTransformCost(info, Spec(4000, 0), limits); }), "transform-too-large");
}

TEST(TransformDeadline, ResampleAndEncodeGiveUpInsideTheirLoops) {
  Pixels big = Pixels::Make(2000, 2000, 3);
  const Deadline passed{std::chrono::steady_clock::now()};
  EXPECT_EQ(Slug([&] { Resample(big, 3000, 3000, passed); }), "unavailable");
  EXPECT_EQ(Slug([&] { Resample(big, 2000, 3000, passed); }), "unavailable");  // vertical only
  EXPECT_EQ(Slug([&] { Resample(big, 3000, 2000, passed); }), "unavailable");  // horizontal
  EXPECT_EQ(Slug([&] { EncodeJpeg(big, 80, false, passed); }), "unavailable");
  EXPECT_EQ(Slug([&] { EncodeJpeg(big, 80, true, passed); }), "unavailable");
  // Without a deadline both run to the end.
  EXPECT_EQ(Resample(big, 300, 300).width, 300);
  EXPECT_GT(EncodeJpeg(big, 80, true).size(), 100u);
}

}  // namespace
}  // namespace imgd
