// The Cassandra MetaStore's perceptual hashes and similarity index (see
// similarity_store.h). Index rows live in partitions (user, band, bucket): the bucket is a
// band value's top 2 bits, so a library of a million images has partitions of ~250,000
// small rows, and a lookup at distance 10 reads 4 bands x 4 buckets with one `value IN ?`
// each.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <map>

#include "meta/cassandra_meta_store.h"

namespace imgd {
namespace {

int64_t Bucket(uint16_t value) { return value >> 14; }
std::string Hex(uint16_t value) { return fmt::format("{:04x}", value); }
int64_t Signed(uint64_t v) { return static_cast<int64_t>(v); }

}  // namespace

void CassandraMetaStore::SetContentHash(const std::string& sha256, uint64_t phash) {
  cql_.Run("INSERT INTO " + T("content_hashes") + " (sha256, phash) VALUES (?, ?)",
           {sha256, Signed(phash)});
}

std::optional<uint64_t> CassandraMetaStore::GetContentHash(const std::string& sha256) {
  auto r = cql_.Run("SELECT phash FROM " + T("content_hashes") + " WHERE sha256 = ?", {sha256});
  if (r.empty() || r.IsNull(0, 0)) return std::nullopt;
  return static_cast<uint64_t>(r.Int(0, 0));
}

void CassandraMetaStore::IndexSimilar(const std::string& user_id, const std::string& image_id,
                                      uint64_t phash) {
  for (int band = 0; band < 4; ++band) {
    const uint16_t v = Band(phash, band);
    cql_.Run("INSERT INTO " + T("similar_index") +
                 " (user_id, band, bucket, value, image_id, phash) VALUES (?, ?, ?, ?, ?, ?)",
             {user_id, int64_t{band}, Bucket(v), Hex(v), image_id, Signed(phash)});
  }
}

void CassandraMetaStore::UnindexSimilar(const std::string& user_id, const std::string& image_id,
                                        uint64_t phash) {
  for (int band = 0; band < 4; ++band) {
    const uint16_t v = Band(phash, band);
    cql_.Run("DELETE FROM " + T("similar_index") +
                 " WHERE user_id = ? AND band = ? AND bucket = ? AND value = ? AND image_id = ?",
             {user_id, int64_t{band}, Bucket(v), Hex(v), image_id});
  }
}

std::vector<SimilarImage> CassandraMetaStore::FindSimilar(const std::string& user_id,
                                                          uint64_t phash, int max_distance,
                                                          int limit) {
  max_distance = std::clamp(max_distance, 0, SimilarityStore::kMaxDistance);
  std::map<std::string, SimilarImage> found;
  for (int band = 0; band < 4; ++band) {
    std::map<int64_t, std::vector<std::string>> by_bucket;
    for (uint16_t p : BandProbes(Band(phash, band), max_distance / 4)) {
      by_bucket[Bucket(p)].push_back(Hex(p));
    }
    for (auto& [bucket, values] : by_bucket) {
      auto r = cql_.Run("SELECT image_id, phash FROM " + T("similar_index") +
                            " WHERE user_id = ? AND band = ? AND bucket = ? AND value IN ?",
                        {user_id, int64_t{band}, bucket, std::move(values)});
      for (size_t i = 0; i < r.size(); ++i) {
        AddIfWithin(found, phash, max_distance, r.Text(i, 0), static_cast<uint64_t>(r.Int(i, 1)));
      }
    }
  }
  return NearestFirst(std::move(found), limit);
}

}  // namespace imgd
