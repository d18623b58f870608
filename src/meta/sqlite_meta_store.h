#pragma once
// SQLite 3 MetaStore (WAL, synchronous=FULL so a commit is durable before we answer).
// A small pool of connections; writes use BEGIN IMMEDIATE so concurrent writers queue on
// SQLite's lock (busy_timeout) instead of failing.
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "meta/meta_store.h"

struct sqlite3;

namespace imgd {

class SqliteMetaStore final : public MetaStore {
 public:
  explicit SqliteMetaStore(std::string path, int pool_size = 4);
  ~SqliteMetaStore() override;

  void Migrate() override;
  void Ping() override;
  void CreateUser(const User& user, const std::string& key_hash) override;
  std::optional<User> FindUserByKeyHash(const std::string& key_hash) override;
  std::optional<User> GetUser(const std::string& user_id) override;
  void SetAdminKey(const std::string& key_hash) override;
  bool HasAdmin() override;
  using MetaStore::CommitImage;
  using MetaStore::CompletePendingImage;
  CommitResult CommitImage(const Image& candidate, DuplicatePolicy policy,
                           const EnsureBytes& ensure_bytes) override;
  void CreatePendingImage(const Image& image) override;
  std::optional<CommitResult> CompletePendingImage(const std::string& image_id,
                                                   const BlobInfo& blob, int64_t now_ms,
                                                   DuplicatePolicy policy,
                                                   const EnsureBytes& ensure_bytes) override;
  std::vector<std::string> DeleteExpiredPending(int64_t now_ms) override;
  void CreateUpload(const ResumableUpload& upload) override;
  std::optional<ResumableUpload> GetUpload(const std::string& upload_id) override;
  std::optional<CommitResult> CompleteUpload(const std::string& upload_id, const Image& candidate,
                                             DuplicatePolicy policy,
                                             const EnsureBytes& ensure_bytes) override;
  bool DeleteUpload(const std::string& upload_id) override;
  bool LeaseUpload(const std::string& upload_id, const std::string& owner, int64_t now_ms,
                   int64_t until_ms) override;
  void ReleaseUploadLease(const std::string& upload_id, const std::string& owner) override;
  std::vector<std::string> DeleteExpiredUploads(int64_t now_ms) override;
  bool ClaimIdempotencyKey(const std::string& user_id, const std::string& key,
                           const std::string& fingerprint, int64_t now_ms, int64_t stale_before_ms,
                           int64_t expired_before_ms) override;
  std::optional<IdempotencyRecord> GetIdempotencyKey(const std::string& user_id,
                                                     const std::string& key) override;
  void CompleteIdempotencyKey(const std::string& user_id, const std::string& key,
                              const IdempotencyRecord& record) override;
  void ReleaseIdempotencyKey(const std::string& user_id, const std::string& key) override;
  size_t DeleteExpiredIdempotencyKeys(int64_t before_ms) override;
  std::string GetOrCreateSecret(const std::string& name, const std::string& candidate) override;
  std::vector<UserExport> ExportUsers(const std::string& after_id, int limit) override;
  void ImportUser(const UserExport& user) override;
  std::vector<Image> ExportImages(const std::string& after_id, int limit) override;
  bool ImportImage(const Image& image) override;
  std::optional<Image> GetImage(const std::string& image_id) override;
  std::vector<Image> ListImages(const std::string& user_id, int limit,
                                const std::string& after_id) override;
  std::optional<Image> UpdateImage(const std::string& image_id, const ImageChanges& changes,
                                   const std::string& modified_by, int64_t modified_ms) override;
  DeleteResult DeleteImage(const std::string& image_id) override;
  std::optional<BlobInfo> GetBlob(const std::string& sha256) override;
  bool BlobReferenced(const std::string& sha256) override;
  std::vector<std::string> UnreferencedBlobs(int limit) override;
  void TrackUnrecordedBlob(const std::string& sha256, uint64_t size) override;
  bool RemoveBlobIfUnreferenced(const std::string& sha256,
                                const std::function<void()>& remove_bytes) override;

  class Conn;  // one sqlite3 handle with its prepared statements

 private:
  class Lease;
  Conn* Acquire();
  void Release(Conn* c);

  std::string path_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Conn*> idle_;
  std::vector<std::unique_ptr<Conn>> all_;
};

}  // namespace imgd
