#pragma once
// The composition root: the stores, pools and services of one imgd process, wired from a
// Config. Every command that touches the stores builds one App.
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "blob/blob_store.h"
#include "config/config.h"
#include "core/url_signer.h"
#include "meta/meta_store.h"
#include "net/url_fetcher.h"
#include "obs/metrics.h"
#include "service/direct_upload_service.h"
#include "service/edge_purger.h"
#include "service/idempotency_service.h"
#include "service/image_service.h"
#include "service/near_duplicates.h"
#include "service/presigned_upload_service.h"
#include "service/publish_step.h"
#include "service/resumable_upload_service.h"
#include "service/transform_service.h"
#include "service/url_upload_service.h"
#include "service/user_service.h"

namespace imgd::cli {

int Cores();

// One process at a time owns a data directory for writing blobs: the in-process blob
// locks (see BlobLocks) are what keep uploads, deletes and sweeps of the same content
// apart. Returns false when another imgd holds it. The lock lasts until exit.
bool LockDataDir(const std::string& data_dir);

// The stores and services every command works with. Opens (and migrates) the stores;
// throws std::invalid_argument for settings that cannot be used, StoreError when a store
// cannot be reached.
struct App {
  explicit App(Config& cfg);
  ~App();
  boost::asio::thread_pool blocking;
  boost::asio::thread_pool cpu;
  Metrics metrics;
  std::unique_ptr<MetaStore> meta;
  std::unique_ptr<BlobStore> blobs;
  std::unique_ptr<UserService> users;
  std::unique_ptr<EdgePurger> edge_purger;  // started by `serve` only
  std::unique_ptr<NearDuplicates> near_duplicates;
  std::unique_ptr<ImageService> images;
  std::unique_ptr<TransformService> transforms;
  std::unique_ptr<UrlSigner> signer;           // pre-signed upload URLs
  std::unique_ptr<UrlSigner> delivery_signer;  // signed content URLs
  std::unique_ptr<UrlFetcher> fetcher;
  BlobLocks blob_locks;  // shared by uploads and deletes (see BlobLocks)
  std::unique_ptr<PublishStep> publish;
  std::unique_ptr<DirectUploadService> direct_uploads;
  std::unique_ptr<UrlUploadService> url_uploads;
  std::unique_ptr<PresignedUploadService> presigned;
  std::unique_ptr<ResumableUploadService> resumable;
  std::unique_ptr<IdempotencyService> idempotency;
};

struct SweepCounts {
  size_t staged = 0, orphans = 0, uploads = 0, idempotency_keys = 0;
};

// Removes leftovers (staged uploads, unreferenced blobs) untouched for grace_s seconds,
// and whatever expired: pending images, resumable uploads, idempotency records; and
// brings the stored variants within their bounds. Blocking.
SweepCounts Sweep(App& app, int64_t grace_s);

}  // namespace imgd::cli
