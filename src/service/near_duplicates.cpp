#include "service/near_duplicates.h"

namespace imgd {

NearDuplicates::NearDuplicates(SimilarityStore& index, ImageStore& images,
                               NearDuplicateOptions opts)
    : index_(index), images_(images), opts_(opts) {}

std::optional<uint64_t> NearDuplicates::ContentHash(const std::string& sha256,
                                                    std::optional<uint64_t> computed) {
  if (computed) {
    index_.SetContentHash(sha256, *computed);
    return computed;
  }
  return index_.GetContentHash(sha256);
}

std::vector<SimilarImage> NearDuplicates::Find(const std::string& user_id, uint64_t phash,
                                               int max_distance, const std::string& exclude_id) {
  std::vector<SimilarImage> out;
  // One more than the limit: the excluded image may be among them.
  for (auto& s : index_.FindSimilar(user_id, phash, max_distance, opts_.limit + 1)) {
    if (s.image_id == exclude_id) continue;
    auto image = images_.GetImage(s.image_id);
    if (!image || image->user_id != user_id) {
      index_.UnindexSimilar(user_id, s.image_id, s.phash);  // gone: a stale row
      continue;
    }
    if (image->status != kStatusReady) continue;
    out.push_back(std::move(s));
    if (out.size() == static_cast<size_t>(opts_.limit)) break;
  }
  return out;
}

void NearDuplicates::Index(const Image& image, uint64_t phash) {
  index_.IndexSimilar(image.user_id, image.id, phash);
}

void NearDuplicates::Unindex(const Image& image) {
  if (image.sha256.empty()) return;
  if (auto phash = index_.GetContentHash(image.sha256)) {
    index_.UnindexSimilar(image.user_id, image.id, *phash);
  }
}

}  // namespace imgd
