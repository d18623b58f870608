#pragma once
// Users and their API keys (stored only as SHA-256 hashes).
//
// On a store without multi-row transactions (a wide-column store): a user and its key are
// two partitions (by user id, by key hash) written together in a logged batch; SetAdminKey
// replaces the admin's key with a lightweight transaction on a single "admin" row.
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

class UserStore {
 public:
  virtual ~UserStore() = default;

  // --- users and keys (keys are stored only as SHA-256 hashes) ---
  // Creates a user holding one API key.
  virtual void CreateUser(const User& user, const std::string& key_hash) = 0;
  virtual std::optional<User> FindUserByKeyHash(const std::string& key_hash) = 0;
  virtual std::optional<User> GetUser(const std::string& user_id) = 0;
  // Makes the admin user hold exactly this key (creating the admin when missing).
  virtual void SetAdminKey(const std::string& key_hash) = 0;
  virtual bool HasAdmin() = 0;
};

}  // namespace imgd
