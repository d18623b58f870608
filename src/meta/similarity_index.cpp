// What every store's similarity index shares (see similarity_store.h): the band probes and
// the ordering of what a lookup found.
#include <algorithm>

#include "meta/similarity_store.h"

namespace imgd {
namespace {

void Flip(uint16_t value, int from_bit, int left, std::vector<uint16_t>& out) {
  if (left == 0) return;
  for (int b = from_bit; b < 16; ++b) {
    const auto flipped = static_cast<uint16_t>(value ^ (1u << b));
    out.push_back(flipped);
    Flip(flipped, b + 1, left - 1, out);
  }
}

}  // namespace

std::vector<uint16_t> BandProbes(uint16_t value, int radius) {
  std::vector<uint16_t> out{value};
  Flip(value, 0, radius, out);
  return out;
}

void AddIfWithin(std::map<std::string, SimilarImage>& found, uint64_t phash, int max_distance,
                 const std::string& image_id, uint64_t image_phash) {
  const int d = std::popcount(phash ^ image_phash);
  if (d <= max_distance) found.emplace(image_id, SimilarImage{image_id, d, image_phash});
}

std::vector<SimilarImage> NearestFirst(std::map<std::string, SimilarImage> found, int limit) {
  std::vector<SimilarImage> out;
  for (auto& [id, similar] : found) out.push_back(std::move(similar));
  std::sort(out.begin(), out.end(), [](const SimilarImage& a, const SimilarImage& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.image_id < b.image_id;
  });
  if (out.size() > static_cast<size_t>(limit)) out.resize(static_cast<size_t>(limit));
  return out;
}

}  // namespace imgd
