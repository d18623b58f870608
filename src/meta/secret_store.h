#pragma once
// Process-wide secrets shared by every node on the database (URL signing keys).
//
// Create-if-absent of one row: a lightweight transaction where there are no transactions.
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

class SecretStore {
 public:
  virtual ~SecretStore() = default;

  // A process-wide secret shared by every node on this database (e.g. the upload URL
  // signing key): stores candidate under name unless one exists, and returns the stored one.
  virtual std::string GetOrCreateSecret(const std::string& name, const std::string& candidate) = 0;
};

}  // namespace imgd
