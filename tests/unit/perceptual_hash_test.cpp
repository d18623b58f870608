// The perceptual hash on the corpus' duplicate groups (tests/corpus/duplicates/PAIRS.tsv):
// same pixels hash alike, near-duplicates land close, the mirrored copy and the rotated
// rendering far.
#include "image/perceptual_hash.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/memory_source.h"
#include "image/jpeg_validate.h"

using namespace imgd;

namespace {

uint64_t HashOf(const std::string& rel) {
  std::ifstream f(std::string(IMGD_CORPUS_DIR) + "/" + rel, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  MemorySource src(std::make_shared<const std::string>(ss.str()));
  auto v = ValidateJpeg(src, JpegLimits{});
  EXPECT_TRUE(v.phash.has_value()) << rel;
  return v.phash.value_or(0);
}

int Distance(const std::string& a, const std::string& b) {
  return HammingDistance(HashOf(a), HashOf(b));
}

}  // namespace

TEST(PerceptualHash, SamePixelsHashAlike) {
  for (const char* b : {"duplicates/dup_g1_d_cups_exif_edited.jpg",
                        "duplicates/dup_g1_e_cups_metadata_stripped.jpg",
                        "duplicates/dup_g1_f_cups_lossless_progressive.jpg",
                        "duplicates/dup_g1_g_cups_lossless_arithmetic.jpg"}) {
    EXPECT_EQ(Distance("duplicates/dup_g1_a_cups.jpg", b), 0) << b;
  }
}

TEST(PerceptualHash, NearDuplicatesAreCloseAndMirrorsAndRotationsFar) {
  const std::string a = "duplicates/dup_g1_a_cups.jpg";
  EXPECT_LE(Distance(a, "duplicates/dup_g1_h_cups_reencoded_same_q.jpg"), 2);
  EXPECT_LE(Distance(a, "duplicates/dup_g1_i_cups_resized_640.jpg"), 4);
  EXPECT_GE(Distance(a, "duplicates/dup_g1_k_cups_mirrored_not_dup.jpg"), 20);
  EXPECT_GE(Distance(a, "duplicates/dup_g1_j_cups_orientation6_tag.jpg"), 20);
  EXPECT_GE(Distance(a, "real/real_01_skagen_800x533.jpg"), 20);
}

TEST(PerceptualHash, OrientationTurnsTheGridUpright) {
  float g[CellAccumulator::kGrid][CellAccumulator::kGrid];
  for (int y = 0; y < CellAccumulator::kGrid; ++y) {
    for (int x = 0; x < CellAccumulator::kGrid; ++x) g[y][x] = static_cast<float>(x * x + 3 * y);
  }
  // 3 (180 degrees) twice over is the identity; 6 and 8 are each other's inverse.
  float turned[CellAccumulator::kGrid][CellAccumulator::kGrid];
  for (int y = 0; y < CellAccumulator::kGrid; ++y) {
    for (int x = 0; x < CellAccumulator::kGrid; ++x) {
      turned[y][x] = g[CellAccumulator::kGrid - 1 - x][y];  // what orientation 6 shows
    }
  }
  EXPECT_EQ(PerceptualHash(turned, 8), PerceptualHash(g, 1));
  EXPECT_NE(PerceptualHash(g, 2), PerceptualHash(g, 1));
}
