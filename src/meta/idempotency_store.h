#pragma once
// Idempotency-Key records per user: claim, read, complete, release, expire.
//
// A claim is one conditional write of one row (user, key): a lightweight transaction where
// there are no transactions.
//
// Contract for every implementation (see meta_store.h): methods block (call them from a
// blocking pool), are thread-safe and safe across nodes sharing the database, throw
// StoreError (503) on store failures, and report "not found" as an empty optional.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/types.h"

namespace imgd {

class IdempotencyStore {
 public:
  virtual ~IdempotencyStore() = default;

  // --- idempotency keys (per user) ---
  // Claims (user_id, key) for a request with this fingerprint: true when the caller now owns
  // it (no record, or one left running since before stale_before_ms by a crashed request,
  // or one finished before expired_before_ms). Atomic across nodes: of concurrent claims
  // exactly one wins.
  virtual bool ClaimIdempotencyKey(const std::string& user_id, const std::string& key,
                                   const std::string& fingerprint, int64_t now_ms,
                                   int64_t stale_before_ms, int64_t expired_before_ms) = 0;
  virtual std::optional<IdempotencyRecord> GetIdempotencyKey(const std::string& user_id,
                                                             const std::string& key) = 0;
  // Stores the claimed request's outcome (done = true).
  virtual void CompleteIdempotencyKey(const std::string& user_id, const std::string& key,
                                      const IdempotencyRecord& record) = 0;
  // Drops a claim whose request failed, so a retry runs afresh.
  virtual void ReleaseIdempotencyKey(const std::string& user_id, const std::string& key) = 0;
  // Deletes records created before before_ms; returns how many.
  virtual size_t DeleteExpiredIdempotencyKeys(int64_t before_ms) = 0;
};

}  // namespace imgd
