#pragma once
// The MetaStore on an SQL database: the schema, statements, row mapping and rules written
// once (sql_meta_store.cpp, sql_image_rows.cpp, sql_records.cpp, sql_schema.cpp) over the
// SqlEngine interface, whose SQLite and PostgreSQL engines differ only in how they connect,
// number placeholders, lock rows and report lost races (sql_session.h).
//
// Atomicity: every multi-row rule is one database transaction, with constraints (the
// per-user duplicate slot, one admin, reference counts >= 0) deciding races between nodes.
// A transaction that loses one (SqlRetry) is rerun from the start with a short backoff, up
// to 8 times, so concurrent calls end as some sequential order of them would.
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "meta/meta_store.h"
#include "meta/sql_session.h"

namespace imgd {

class SqlMetaStore final : public MetaStore {
 public:
  explicit SqlMetaStore(std::unique_ptr<SqlEngine> engine);
  ~SqlMetaStore() override;

  void Migrate() override;
  void Ping() override;
  const CircuitBreaker* breaker() const override { return engine_->breaker(); }

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
  std::optional<Image> GetImage(const std::string& image_id) override;
  std::optional<Image> FindImageByContent(const std::string& user_id,
                                          const std::string& sha256) override;
  std::vector<Image> ListImages(const std::string& user_id, int limit,
                                const std::string& after_id) override;
  std::optional<Image> UpdateImage(const std::string& image_id, const ImageChanges& changes,
                                   const std::string& modified_by, int64_t modified_ms) override;
  DeleteResult DeleteImage(const std::string& image_id) override;

  std::optional<BlobInfo> GetBlob(const std::string& sha256) override;
  bool BlobReferenced(const std::string& sha256) override;
  std::vector<std::string> UnreferencedBlobs(int limit) override;
  void TrackUnrecordedBlob(const std::string& sha256, uint64_t size,
                           int64_t in_flight_before_ms) override;
  bool RemoveBlobIfUnreferenced(const std::string& sha256,
                                const std::function<void()>& remove_bytes) override;

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

  void AddPurges(const std::vector<PurgeTask>& tasks) override;
  std::vector<PurgeTask> PendingPurges(const std::string& edge, int limit) override;
  void RemovePurge(const PurgeTask& task) override;
  void RetryPurge(const PurgeTask& task, int64_t due_ms, int attempts) override;
  std::vector<std::string> PurgeEdges() override;

  void SetContentHash(const std::string& sha256, uint64_t phash) override;
  std::optional<uint64_t> GetContentHash(const std::string& sha256) override;
  void IndexSimilar(const std::string& user_id, const std::string& image_id,
                    uint64_t phash) override;
  void UnindexSimilar(const std::string& user_id, const std::string& image_id,
                      uint64_t phash) override;
  std::vector<SimilarImage> FindSimilar(const std::string& user_id, uint64_t phash,
                                        int max_distance, int limit) override;

  std::vector<UserExport> ExportUsers(const std::string& after_id, int limit) override;
  void ImportUser(const UserExport& user) override;
  std::vector<Image> ExportImages(const std::string& after_id, int limit) override;
  bool ImportImage(const Image& image) override;
  void SetPlaceholder(const Image& image, const std::string& blurhash) override;

 private:
  enum class Txn { kNone, kRead, kWrite };
  // Runs fn on a pooled session (inside a transaction unless kNone), rerunning it from the
  // start when it lost a race.
  void RunRetrying(Txn txn, const std::function<void(SqlSession&)>& fn);
  template <typename F>
  auto Run(Txn txn, F fn) {
    using R = std::invoke_result_t<F, SqlSession&>;
    if constexpr (std::is_void_v<R>) {
      RunRetrying(txn, fn);
    } else {
      std::optional<R> out;
      RunRetrying(txn, [&](SqlSession& s) { out.emplace(fn(s)); });
      return std::move(*out);
    }
  }
  // A single statement, or reads that need no snapshot.
  template <typename F>
  auto Run(F fn) {
    return Run(Txn::kNone, std::move(fn));
  }
  const SqlDialect& dialect() const { return engine_->dialect(); }

  std::unique_ptr<SqlEngine> engine_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<SqlSession*> idle_;
  std::vector<std::unique_ptr<SqlSession>> all_;
};

}  // namespace imgd
