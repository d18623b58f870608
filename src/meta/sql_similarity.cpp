// The SQL MetaStore's perceptual hashes and similarity index (see similarity_store.h).
#include <algorithm>
#include <bit>
#include <map>

#include "meta/sql_meta_store.h"

namespace imgd {
namespace {

constexpr size_t kProbesPerStatement = 400;

int64_t Signed(uint64_t v) { return static_cast<int64_t>(v); }

}  // namespace

void SqlMetaStore::SetContentHash(const std::string& sha256, uint64_t phash) {
  Run([&](SqlSession& s) {
    s.Exec("INSERT INTO content_hashes(sha256, phash) VALUES (?, ?) ON CONFLICT DO NOTHING",
           {sha256, Signed(phash)});
  });
}

std::optional<uint64_t> SqlMetaStore::GetContentHash(const std::string& sha256) {
  return Run([&](SqlSession& s) -> std::optional<uint64_t> {
    auto r = s.Exec("SELECT phash FROM content_hashes WHERE sha256 = ?", {sha256});
    if (r.empty()) return std::nullopt;
    return static_cast<uint64_t>(r.Int(0, 0));
  });
}

void SqlMetaStore::IndexSimilar(const std::string& user_id, const std::string& image_id,
                                uint64_t phash) {
  Run(Txn::kWrite, [&](SqlSession& s) {
    for (int band = 0; band < 4; ++band) {
      s.Exec(
          "INSERT INTO similar_index(user_id, band, value, image_id, phash) VALUES (?,?,?,?,?) "
          "ON CONFLICT DO NOTHING",
          {user_id, int64_t{band}, int64_t{Band(phash, band)}, image_id, Signed(phash)});
    }
  });
}

void SqlMetaStore::UnindexSimilar(const std::string& user_id, const std::string& image_id,
                                  uint64_t phash) {
  Run(Txn::kWrite, [&](SqlSession& s) {
    for (int band = 0; band < 4; ++band) {
      s.Exec(
          "DELETE FROM similar_index WHERE user_id = ? AND band = ? AND value = ? AND "
          "image_id = ?",
          {user_id, int64_t{band}, int64_t{Band(phash, band)}, image_id});
    }
  });
}

std::vector<SimilarImage> SqlMetaStore::FindSimilar(const std::string& user_id, uint64_t phash,
                                                    int max_distance, int limit) {
  max_distance = std::clamp(max_distance, 0, SimilarityStore::kMaxDistance);
  std::map<std::string, SimilarImage> found;
  Run([&](SqlSession& s) {
    for (int band = 0; band < 4; ++band) {
      const std::vector<uint16_t> probes = BandProbes(Band(phash, band), max_distance / 4);
      for (size_t at = 0; at < probes.size(); at += kProbesPerStatement) {
        const size_t end = std::min(probes.size(), at + kProbesPerStatement);
        std::string sql = std::string(kUnprepared) +
                          " SELECT image_id, phash FROM similar_index WHERE user_id = ? AND "
                          "band = ? AND value IN (";
        std::vector<SqlParam> params{user_id, int64_t{band}};
        for (size_t i = at; i < end; ++i) {
          sql += i == at ? "?" : ",?";
          params.emplace_back(int64_t{probes[i]});
        }
        auto r = s.Exec(sql + ")", params);
        for (size_t i = 0; i < r.size(); ++i) {
          AddIfWithin(found, phash, max_distance, r.Text(i, 0), static_cast<uint64_t>(r.Int(i, 1)));
        }
      }
    }
  });
  return NearestFirst(std::move(found), limit);
}

}  // namespace imgd
