// The Cassandra MetaStore's blob rows and the protocol that removes bytes safely against a
// commit of the same bytes in any datacenter.
//
// A count in one row cannot do it: a lightweight transaction under LOCAL_SERIAL orders only
// one datacenter's writers, and under SERIAL every upload would stop when a datacenter is
// down. Instead each image holds a reference row (blob_refs), and two writes race like the
// two flags of Dekker's algorithm:
//   commit:  write its reference (LOCAL_QUORUM), then read removal tokens (LOCAL_QUORUM);
//            while a token is there, wait; then make sure the bytes are stored (EnsureBytes).
//   remover: write a token (EACH_QUORUM), then read references (EACH_QUORUM); remove the
//            bytes only when there are none.
// A quorum of every datacenter holds the token before the remover reads, and the read
// meets a quorum of the committer's datacenter, so if the remover misses the reference the
// committer's later read meets the token: one of them always sees the other. The committer
// that waited checks the bytes only after the token is gone, and stores them again if the
// remover took them. Removal needs every datacenter up; when one is not it is deferred
// (the blob stays listed as unreferenced) and nothing else stops.
#include <chrono>
#include <thread>

#include "core/clock.h"
#include "core/errors.h"
#include "core/ids.h"
#include "meta/cassandra_meta_store.h"
#include "meta/record_rows.h"

namespace imgd {
namespace {

// A token outlives a remover that died by at most this (seconds); a live remover gives up
// before half of it has passed, so its token is always there while it may remove.
constexpr int64_t kTokenTtlSeconds = 120;
constexpr auto kRemoverBudget = std::chrono::seconds(kTokenTtlSeconds / 2);
// A reference with no image this long after it was written belongs to a commit that died.
constexpr int64_t kDanglingAfterMs = 3'600'000;
// How long a commit waits for a removal of its bytes to end before answering 503.
constexpr auto kWaitLimit = std::chrono::seconds(30);

}  // namespace

int64_t CassandraMetaStore::AddBlobReference(const Image& im) {
  cql_.Run("INSERT INTO " + T("blob_refs") + " (sha256, image_id, created_ms) VALUES (?, ?, ?)",
           {im.sha256, im.id, NowMs()});
  const auto give_up = std::chrono::steady_clock::now() + kWaitLimit;
  for (int attempt = 0;; ++attempt) {
    auto removers = cql_.Run(
        "SELECT remover FROM " + T("blob_removals") + " WHERE sha256 = ? LIMIT 1", {im.sha256});
    if (removers.empty()) break;
    if (std::chrono::steady_clock::now() > give_up) {
      DropBlobReference(im.sha256, im.id);
      throw StoreError("cassandra: the bytes of this image are being removed; try again");
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::min(10 << std::min(attempt, 5), 250)));
  }
  cql_.Run("DELETE FROM " + T("unreferenced_blobs") + " WHERE shard = ? AND sha256 = ?",
           {Shard(im.sha256), im.sha256});
  auto n = cql_.Run("SELECT COUNT(*) FROM " + T("blob_refs") + " WHERE sha256 = ?", {im.sha256});
  return n.empty() ? 1 : n.Int(0, 0);
}

void CassandraMetaStore::DropDanglingReferences(const std::string& sha256, int64_t before_ms) {
  auto refs = cql_.Run("SELECT image_id, created_ms FROM " + T("blob_refs") + " WHERE sha256 = ?",
                       {sha256});
  for (size_t i = 0; i < refs.size(); ++i) {
    if (refs.Int(i, 1) < before_ms && !GetImage(refs.Text(i, 0))) {
      DropBlobReference(sha256, refs.Text(i, 0));
    }
  }
}

void CassandraMetaStore::DropBlobReference(const std::string& sha256, const std::string& image_id) {
  cql_.Run("DELETE FROM " + T("blob_refs") + " WHERE sha256 = ? AND image_id = ?",
           {sha256, image_id});
}

bool CassandraMetaStore::MarkIfUnreferenced(const std::string& sha256) {
  // A commit that died between its reference and its image left the reference behind.
  DropDanglingReferences(sha256, NowMs() - kDanglingAfterMs);
  if (BlobReferenced(sha256)) return false;
  // Of deletes that dropped the last references at once, the one that lists the blob is
  // the one that released it.
  return cql_
      .Cas(
          "INSERT INTO " + T("unreferenced_blobs") + " (shard, sha256) VALUES (?, ?) IF NOT EXISTS",
          {Shard(sha256), sha256})
      .Applied();
}

std::optional<BlobInfo> CassandraMetaStore::GetBlob(const std::string& sha256) {
  auto r = cql_.Run(
      "SELECT sha256, size, width, height, blurhash FROM " + T("blobs") + " WHERE sha256 = ?",
      {sha256});
  if (r.empty()) return std::nullopt;
  BlobInfo b = BlobFromRow(r, 0);
  auto n = cql_.Run("SELECT COUNT(*) FROM " + T("blob_refs") + " WHERE sha256 = ?", {sha256});
  b.refcount = n.empty() ? 0 : n.Int(0, 0);
  return b;
}

bool CassandraMetaStore::BlobReferenced(const std::string& sha256) {
  return !cql_.Run("SELECT image_id FROM " + T("blob_refs") + " WHERE sha256 = ? LIMIT 1", {sha256})
              .empty();
}

std::vector<std::string> CassandraMetaStore::UnreferencedBlobs(int limit) {
  std::vector<std::string> out;
  for (int64_t shard = 0; shard < 16 && static_cast<int>(out.size()) < limit; ++shard) {
    auto r = cql_.Run("SELECT sha256 FROM " + T("unreferenced_blobs") + " WHERE shard = ? LIMIT ?",
                      {shard, int64_t{limit - static_cast<int>(out.size())}});
    for (size_t i = 0; i < r.size(); ++i) out.push_back(r.Text(i, 0));
  }
  return out;
}

void CassandraMetaStore::TrackUnrecordedBlob(const std::string& sha256, uint64_t size,
                                             int64_t in_flight_before_ms) {
  DropDanglingReferences(sha256, in_flight_before_ms);
  if (cql_.Cas("INSERT INTO " + T("blobs") +
                   " (sha256, size, width, height, created_ms) VALUES (?, ?, 0, 0, ?) "
                   "IF NOT EXISTS",
               {sha256, static_cast<int64_t>(size), NowMs()})
          .Applied()) {
    MarkIfUnreferenced(sha256);
  }
}

bool CassandraMetaStore::RemoveBlobIfUnreferenced(const std::string& sha256,
                                                  const std::function<void()>& remove_bytes) {
  const std::vector<CqlParam> key = {Shard(sha256), sha256};
  const std::string unlist =
      "DELETE FROM " + T("unreferenced_blobs") + " WHERE shard = ? AND sha256 = ?";
  if (BlobReferenced(sha256)) {
    cql_.Run(unlist, key);
    return false;
  }
  const bool known =
      !cql_.Run("SELECT sha256 FROM " + T("blobs") + " WHERE sha256 = ?", {sha256}).empty() ||
      !cql_.Run("SELECT sha256 FROM " + T("unreferenced_blobs") + " WHERE shard = ? AND sha256 = ?",
                key)
           .empty();
  if (!known) return false;  // removed already, or never recorded
  const auto started = std::chrono::steady_clock::now();
  const std::string token = NewUuidV7();
  const std::string drop_token =
      "DELETE FROM " + T("blob_removals") + " WHERE sha256 = ? AND remover = ?";
  try {
    cql_.Run("INSERT INTO " + T("blob_removals") + " (sha256, remover) VALUES (?, ?) USING TTL " +
                 std::to_string(kTokenTtlSeconds),
             {sha256, token}, CqlLevel::kEachQuorum);
    const bool referenced =
        !cql_.Run("SELECT image_id FROM " + T("blob_refs") + " WHERE sha256 = ? LIMIT 1", {sha256},
                  CqlLevel::kEachQuorum)
             .empty();
    if (referenced || std::chrono::steady_clock::now() - started > kRemoverBudget) {
      cql_.Run(drop_token, {sha256, token});
      if (referenced) cql_.Run(unlist, key);
      return false;
    }
  } catch (const StoreError&) {
    // A datacenter cannot confirm (down, or partitioned): removal waits for the next sweep.
    try {
      cql_.Run(drop_token, {sha256, token});
    } catch (const StoreError&) {
    }
    return false;
  }
  try {
    remove_bytes();
  } catch (...) {
    cql_.Run(drop_token, {sha256, token});
    throw;
  }
  cql_.Run("DELETE FROM " + T("blobs") + " WHERE sha256 = ?", {sha256});
  cql_.Run(unlist, key);
  cql_.Run(drop_token, {sha256, token});
  return true;
}

}  // namespace imgd
