#pragma once
// PostgreSQL MetaStore (libpq). Stateless nodes share one database: every rule that must
// hold across nodes (one record per user and content, reference counts, one admin, one
// idempotency claim, a single migration) is a transaction plus a constraint, never an
// in-process lock. A pool of connections, each with its statements prepared on first use.
// Transactions that lose a race (unique violation, serialization failure, deadlock) are
// retried from the start, so they end as some sequential order would. Avoids what
// PostgreSQL-protocol distributed databases lack on the hot path: no sequences (ids are
// UUIDv7 from the application), no LISTEN/NOTIFY; the advisory lock is used only around
// migrations.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/circuit_breaker.h"
#include "meta/meta_store.h"

namespace imgd {

class PgMetaStore final : public MetaStore {
 public:
  // conninfo: a libpq URI (postgres://user@host:port/db?...). Connections open lazily.
  explicit PgMetaStore(std::string conninfo, int pool_size = 8);
  ~PgMetaStore() override;

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

  class Conn;  // one libpq connection and its prepared statements
  const CircuitBreaker* breaker() const override { return &breaker_; }

 private:
  class Lease;
  Conn* Acquire();
  void Release(Conn* c);
  // Runs fn(conn) inside BEGIN/COMMIT, retrying when the transaction lost a race.
  template <typename F>
  auto InTxn(F fn);

  std::string conninfo_;
  CircuitBreaker breaker_{"the metadata database"};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Conn*> idle_;
  std::vector<std::unique_ptr<Conn>> all_;
};

}  // namespace imgd
