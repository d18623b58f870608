#pragma once
// The MetaStore on Apache Cassandra (or any CQL cluster), one keyspace replicated to every
// datacenter, for metadata too large for one SQL server and readable in every region.
//
// Tables are laid out by query (cassandra_schema.cpp): images by id (clustering created_ms,
// as the seed design has it), each user's image ids newest first, the user's images by
// content, one duplicate slot per (user, content), blob rows with one reference row per
// image, expiry indexes in 16 shards per kind.
//
// No multi-partition transactions exist, so each rule that needs one winner is a
// lightweight transaction (Paxos) on one row, and multi-row writes are ordered so that a
// crash leaves something a retry or a sweep finishes (docs/architecture.md, "Cassandra"):
// - LOCAL_QUORUM for plain reads and writes: a datacenter serves alone when another is
//   down, and sees other datacenters' writes once they replicate (eventual consistency).
// - LOCAL_SERIAL for the duplicate slot, idempotency claims, upload leases and completion,
//   pending completion, image updates and the admin row: one winner per datacenter; two
//   datacenters racing within the replication lag can both win (both writes are kept).
// - SERIAL (every datacenter) for creating a shared secret, once per cluster.
// - Removing bytes: a removal token written and the references read at EACH_QUORUM, while
//   a commit writes its reference then looks for tokens, so one of them sees the other in
//   any datacenter (cassandra_blobs.cpp). A datacenter that is down defers removals only.
#include <memory>
#include <string>
#include <vector>

#include "meta/cql_session.h"
#include "meta/meta_store.h"

namespace imgd {

// cassandra://h1,h2:9042/keyspace?dc=dc1&replication=dc1:3,dc2:3&timeout_ms=2000
struct CassandraUrl {
  CqlEndpoint endpoint;
  std::string keyspace = "imgd";
  std::string replication;  // "dc1:3,dc2:3" (default: the local dc, 1 replica)
};
// Throws std::invalid_argument for a malformed URL.
CassandraUrl ParseCassandraUrl(const std::string& url);

class CassandraMetaStore final : public MetaStore {
 public:
  explicit CassandraMetaStore(const CassandraUrl& url);
  ~CassandraMetaStore() override;

  void Migrate() override;
  void Ping() override;
  const CircuitBreaker* breaker() const override { return &cql_.breaker(); }

  void CreateUser(const User& user, const std::string& key_hash) override;
  std::optional<User> FindUserByKeyHash(const std::string& key_hash) override;
  std::optional<User> GetUser(const std::string& user_id) override;
  void SetAdminKey(const std::string& key_hash) override;
  bool HasAdmin() override;

  using MetaStore::CommitImage;
  CommitResult CommitImage(const Image& candidate, DuplicatePolicy policy,
                           const EnsureBytes& ensure_bytes) override;
  void CreatePendingImage(const Image& image) override;
  using MetaStore::CompletePendingImage;
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

  std::vector<UserExport> ExportUsers(const std::string& after_id, int limit) override;
  void ImportUser(const UserExport& user) override;
  std::vector<Image> ExportImages(const std::string& after_id, int limit) override;
  bool ImportImage(const Image& image) override;
  void SetPlaceholder(const Image& image, const std::string& blurhash) override;

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

 private:
  // The keyspace-qualified table name.
  std::string T(const char* table) const { return keyspace_ + "." + table; }
  // CommitImage's steps, shared by pending and resumable completion (cassandra_images.cpp).
  CommitResult Commit(Image candidate, DuplicatePolicy policy, const EnsureBytes& ensure_bytes);
  // The image row as stored (status "completing" included).
  std::optional<Image> ReadImageRow(const std::string& image_id);
  void WriteImage(const Image& im);
  void DeleteImageRows(const Image& im);
  // The blob reference protocol (cassandra_blobs.cpp).
  int64_t AddBlobReference(const Image& im);
  // Drops references recorded before before_ms by commits that never wrote their image.
  void DropDanglingReferences(const std::string& sha256, int64_t before_ms);
  void DropBlobReference(const std::string& sha256, const std::string& image_id);
  bool MarkIfUnreferenced(const std::string& sha256);
  // A key of a user, both ways (by hash, by user), in one logged batch.
  void AddKey(const std::string& user_id, const std::string& key_hash, int64_t created_ms);
  // The shard (0..15) of an id in the expiry, unreferenced-blob and purge outbox indexes.
  static int64_t Shard(const std::string& id);
  // The expiry index: kind is "pending", "upload" or "idempotency".
  void IndexExpiry(const std::string& kind, const std::string& id, int64_t at_ms);
  void UnindexExpiry(const std::string& kind, const std::string& id, int64_t at_ms);
  // (id, at_ms) of entries due before before_ms, in every shard.
  std::vector<std::pair<std::string, int64_t>> DueExpiries(const std::string& kind,
                                                           int64_t before_ms);

  CassandraUrl url_;
  std::string keyspace_;
  CqlSession cql_;
};

}  // namespace imgd
