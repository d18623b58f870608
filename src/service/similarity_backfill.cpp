#include "service/similarity_backfill.h"

#include "core/errors.h"
#include "core/hash.h"
#include "obs/log.h"

namespace imgd {
namespace {

// Not a SHA-256 (no content has it): the content-hash row that marks the pass as done.
// v2: the pass also fills in placeholders (a database whose v1 pass finished runs it again).
constexpr const char* kDoneMarker = "imgd:similarity-backfill-v2";
constexpr int kPage = 200;

}  // namespace

SimilarityBackfill::SimilarityBackfill(CopyStore& images, SimilarityStore& index, BlobStore& blobs,
                                       Metrics& metrics, JpegLimits limits)
    : images_(images), index_(index), blobs_(blobs), metrics_(metrics), limits_(limits) {}

size_t SimilarityBackfill::Run(const std::atomic<bool>& stop) {
  if (index_.GetContentHash(kDoneMarker)) {
    metrics_.Set("imgd_similarity_backfill_state", {}, 2);
    return 0;
  }
  metrics_.Set("imgd_similarity_backfill_state", {}, 1);
  size_t indexed = 0, scanned = 0;
  std::string after;
  for (;;) {
    if (stop) return indexed;
    std::vector<Image> page = images_.ExportImages(after, kPage);
    if (page.empty()) break;
    for (const Image& im : page) {
      after = im.id;
      ++scanned;
      std::optional<uint64_t> phash = index_.GetContentHash(im.sha256);
      if (!phash || im.blurhash.empty()) {
        auto reader = blobs_.Open(OriginalKey(im.sha256));
        if (!reader) {
          metrics_.Inc("imgd_similarity_backfill_images_total", {{"result", "no-bytes"}});
          continue;
        }
        ValidatedJpeg v;
        try {
          v = ValidateJpeg(*reader, limits_);
        } catch (const Error&) {  // bytes a newer validation refuses: nothing to derive
        }
        if (!phash && v.phash) {
          phash = v.phash;
          index_.SetContentHash(im.sha256, *phash);
          metrics_.Inc("imgd_similarity_backfill_images_total", {{"result", "hashed"}});
        }
        if (im.blurhash.empty() && !v.blurhash.empty()) {
          images_.SetPlaceholder(im, v.blurhash);
          metrics_.Inc("imgd_similarity_backfill_images_total", {{"result", "placeholder"}});
        }
      }
      if (!phash) {  // CMYK, or bytes a newer validation refuses
        metrics_.Inc("imgd_similarity_backfill_images_total", {{"result", "no-hash"}});
        continue;
      }
      index_.IndexSimilar(im.user_id, im.id, *phash);
      metrics_.Inc("imgd_similarity_backfill_images_total", {{"result", "indexed"}});
      ++indexed;
    }
    if (scanned % 10000 < static_cast<size_t>(kPage)) {
      LogJson("info", "similarity backfill", {{"scanned", scanned}, {"indexed", indexed}});
    }
  }
  index_.SetContentHash(kDoneMarker, 1);
  metrics_.Set("imgd_similarity_backfill_state", {}, 2);
  LogJson("info", "similarity backfill done", {{"scanned", scanned}, {"indexed", indexed}});
  return indexed;
}

}  // namespace imgd
