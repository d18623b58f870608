#pragma once
// MetaStore: users, API keys, images and blob reference counts, as the roles in
// user_store.h, image_store.h, blob_record_store.h, upload_store.h, idempotency_store.h,
// secret_store.h, copy_store.h, purge_outbox_store.h and
// similarity_store.h (each states its methods' contracts); a
// backend implements them all, a service depends only on the roles it uses.
//
// Contract for every implementation:
// - All methods block; call them from a blocking pool, never from a network thread.
// - All methods are thread-safe and safe across processes/nodes sharing the database:
//   atomicity comes from database transactions and constraints, not in-process locks.
// - Store failures throw StoreError (answered with 503). "Not found" is
//   an empty optional, never an exception.
// - Access pattern: every hot query is by image id or by (user, newest first); nothing
//   needs a join or a cross-partition transaction on the hot path.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/types.h"
#include "meta/blob_record_store.h"
#include "meta/copy_store.h"
#include "meta/idempotency_store.h"
#include "meta/image_store.h"
#include "meta/purge_outbox_store.h"
#include "meta/secret_store.h"
#include "meta/similarity_store.h"
#include "meta/upload_store.h"
#include "meta/user_store.h"

namespace imgd {

class CircuitBreaker;

// The whole metadata store: every role a backend implements (services depend only on the
// roles they use), plus the schema and readiness.
class MetaStore : public UserStore,
                  public ImageStore,
                  public BlobRecordStore,
                  public UploadStore,
                  public IdempotencyStore,
                  public SecretStore,
                  public CopyStore,
                  public PurgeOutboxStore,
                  public SimilarityStore {
 public:
  ~MetaStore() override = default;

  // Creates or upgrades the schema; idempotent, safe when several processes start at once.
  virtual void Migrate() = 0;
  // Throws when the database is unreachable (readiness check).
  virtual void Ping() = 0;
  // The circuit breaker guarding a remote store (nullptr for embedded ones).
  virtual const CircuitBreaker* breaker() const { return nullptr; }
};

// Opens the store named by a URL (sqlite:///path/imgd.db). Throws std::invalid_argument
// when the scheme is unknown.
std::unique_ptr<MetaStore> OpenMetaStore(const std::string& url);

}  // namespace imgd
