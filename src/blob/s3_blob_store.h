#pragma once
// BlobStore on S3-compatible object storage (AWS S3, Ceph RGW, MinIO, Swift s3api).
// Layout in the bucket (below an optional prefix): the same keys as the filesystem store
// (originals/<sha256>, variants/...), staging/<random> for large uploads in progress.
// - Small uploads (below part_size) stay in memory until Commit and go up in one PUT
//   straight to their final key.
// - Larger ones stream as a multipart upload to staging/ (parts of part_size, never the
//   whole object in memory), then Commit copies to the final key and deletes the staging
//   object. A failed or abandoned upload is aborted; SweepStaging removes what a crash left.
// - Readers stream with one ranged GET and reopen only when a read jumps elsewhere.
// - PresignPut hands out a query-signed PUT URL to the bucket.
// - Resumable uploads are chunk objects (resumable/<id>.<offset>) written as requests
//   arrive, readable at any time, assembled through a multipart upload on completion.
#include <memory>

#include "blob/blob_store.h"
#include "blob/s3_client.h"

namespace imgd {

class S3BlobStore final : public BlobStore {
 public:
  // Creates the bucket when it does not exist.
  explicit S3BlobStore(S3Config cfg, size_t part_size = 8u << 20);

  // Bytes stay in memory up to one part, then stream as a multipart upload to staging/.
  std::unique_ptr<StagedBlob> Stage() override;
  // One PUT of the in-memory bytes, or a server-side copy from staging/ (conditional on
  // the ETag read when an uploaded object was adopted).
  void Commit(StagedBlob& staged, const std::string& key) override;
  void Put(const std::string& key, std::string_view bytes) override;
  // Each read of the reader is one ranged GET.
  std::unique_ptr<BlobReader> Open(const std::string& key) override;
  std::optional<uint64_t> Stat(const std::string& key) override;  // HEAD
  void Remove(const std::string& key) override;
  // ListObjectsV2, page by page.
  void ForEach(const std::string& prefix,
               const std::function<void(const std::string&, uint64_t, int64_t)>& fn) override;
  // Also aborts multipart uploads a crash left in staging/.
  size_t SweepStaging(int64_t older_than_ms) override;
  void Ping() override;
  std::optional<std::string> PresignPut(const std::string& key, uint64_t size,
                                        int64_t expires_ms) override;
  std::unique_ptr<StagedBlob> AdoptStaged(const std::string& key) override;
  std::unique_ptr<StagedBlob> OpenResumable(const std::string& upload_id, bool create) override;
  void RemoveResumable(const std::string& upload_id) override;
  void ForEachResumable(const std::function<void(const std::string&, int64_t)>& fn) override;

  S3Client& client() { return *client_; }
  const CircuitBreaker* breaker() const override { return &client_->breaker(); }

 private:
  std::shared_ptr<S3Client> client_;
  size_t part_size_;
};

}  // namespace imgd
