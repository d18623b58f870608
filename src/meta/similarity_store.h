#pragma once
// Perceptual hashes (image/perceptual_hash.h): one per stored content, and a per-user index
// that finds a user's images within a Hamming distance of a hash without reading the
// user's whole library.
//
// The index is multi-index hashing: the 64 bits are four 16-bit bands, each image has one
// row per band keyed by (user, band, band value). Two hashes within distance d differ in at
// most floor(d / 4) bits of some band (else every band would differ in more, and the total
// in more than d), so a lookup reads, in each band, the values within that many bits of the
// query's (1, 17, 137 or 697 of them for d < 4, 8, 12, 16), then checks the exact distance.
// Rows are single-row writes (no transaction needed): an index row whose image is gone is
// skipped by the caller, and an image missing from the index is only not found.
//
// Contract for every implementation (see meta_store.h): methods block (call them from a
// blocking pool), are thread-safe and safe across nodes sharing the database, throw
// StoreError (503) on store failures, and report "not found" as an empty optional.
#include <bit>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace imgd {

struct SimilarImage {
  std::string image_id;
  int distance = 0;
  uint64_t phash = 0;  // the image's own hash
};

class SimilarityStore {
 public:
  virtual ~SimilarityStore() = default;
  static constexpr int kMaxDistance = 15;  // lookups beyond read too many band values

  // The perceptual hash of the content sha256 (idempotent: the hash of given bytes is fixed).
  virtual void SetContentHash(const std::string& sha256, uint64_t phash) = 0;
  virtual std::optional<uint64_t> GetContentHash(const std::string& sha256) = 0;
  // Adds (removes) image_id of user_id with this hash to (from) the index; idempotent.
  virtual void IndexSimilar(const std::string& user_id, const std::string& image_id,
                            uint64_t phash) = 0;
  virtual void UnindexSimilar(const std::string& user_id, const std::string& image_id,
                              uint64_t phash) = 0;
  // user_id's indexed images within max_distance (0..kMaxDistance) of phash, nearest first
  // (then by id), at most limit.
  virtual std::vector<SimilarImage> FindSimilar(const std::string& user_id, uint64_t phash,
                                                int max_distance, int limit) = 0;
};

// The index's band values within radius bits of value (value first): what FindSimilar
// reads in one band.
std::vector<uint16_t> BandProbes(uint16_t value, int radius);
// Adds image_id to found when image_phash is within max_distance of phash.
void AddIfWithin(std::map<std::string, SimilarImage>& found, uint64_t phash, int max_distance,
                 const std::string& image_id, uint64_t image_phash);
// found's images nearest first (then by id), at most limit.
std::vector<SimilarImage> NearestFirst(std::map<std::string, SimilarImage> found, int limit);
// The four bands of a hash, band 0 the lowest 16 bits.
inline uint16_t Band(uint64_t phash, int band) {
  return static_cast<uint16_t>(phash >> (16 * band));
}

}  // namespace imgd
