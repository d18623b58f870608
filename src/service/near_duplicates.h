#pragma once
// Near-duplicates: a user's images whose perceptual hash (image/perceptual_hash.h) is within
// a Hamming distance of another's, found through the metadata store's similarity index.
// Only ever within one user's images: across users it would tell one user what another
// stored. Blocking: call from the blocking pool.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/types.h"
#include "meta/image_store.h"
#include "meta/similarity_store.h"

namespace imgd {

struct NearDuplicateOptions {
  // Default distance (of 64 bits). From bench/tools/phash_eval.cpp on the corpus: every
  // re-encode, resize, strip, +-10% brightness, greyscale and 2% crop lies within 8, a 5%
  // crop within 18; mirrored, rotated and different photos at 24 or more.
  int threshold = 10;
  int limit = 20;  // near-duplicates listed at most
};

class NearDuplicates {
 public:
  NearDuplicates(SimilarityStore& index, ImageStore& images, NearDuplicateOptions opts);
  int threshold() const { return opts_.threshold; }

  // The content's hash: `computed` (just made by validation) is stored and returned;
  // without it, the stored one (nullopt for content stored before hashes, or CMYK).
  std::optional<uint64_t> ContentHash(const std::string& sha256, std::optional<uint64_t> computed);
  // user_id's ready images within max_distance of phash, nearest first, other than
  // exclude_id. Index rows of images that are gone are dropped on the way.
  std::vector<SimilarImage> Find(const std::string& user_id, uint64_t phash, int max_distance,
                                 const std::string& exclude_id = "");
  void Index(const Image& image, uint64_t phash);
  // Drops a deleted image from the index (its hash read by its content).
  void Unindex(const Image& image);

 private:
  SimilarityStore& index_;
  ImageStore& images_;
  NearDuplicateOptions opts_;
};

}  // namespace imgd
