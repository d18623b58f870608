#pragma once
// The one pass that gives images stored before perceptual hashes and placeholders existed
// their hash, their place in the similarity index and their placeholder: every ready image,
// in id order, its content decoded from the stored original when the store lacks either
// (the same validation decode an upload makes). Runs in the background at start, once per database:
// a marker row records that the pass finished, so later starts skip it. Idempotent, so nodes
// running it at once (or a pass cut short and run again) do no harm.
#include <atomic>
#include <cstddef>

#include "blob/blob_store.h"
#include "image/jpeg_validate.h"
#include "meta/copy_store.h"
#include "meta/similarity_store.h"
#include "obs/metrics.h"

namespace imgd {

class SimilarityBackfill {
 public:
  SimilarityBackfill(CopyStore& images, SimilarityStore& index, BlobStore& blobs, Metrics& metrics,
                     JpegLimits limits);
  // Blocking. Runs the pass unless it already finished on this database; stops early when
  // stop becomes true. Returns the images it indexed.
  size_t Run(const std::atomic<bool>& stop);

 private:
  CopyStore& images_;
  SimilarityStore& index_;
  BlobStore& blobs_;
  Metrics& metrics_;
  JpegLimits limits_;
};

}  // namespace imgd
