#pragma once
// Users and API keys. Keys are 256-bit random tokens; only their SHA-256 is stored.
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "core/offload.h"
#include "core/types.h"
#include "meta/user_store.h"

namespace imgd {

class UserService {
 public:
  UserService(UserStore& users, Pools pools) : users_(users), pools_(pools) {}

  // Blocking, at startup: makes `configured_key` the admin key, or when empty and no admin
  // exists yet, generates one. Returns a newly generated key (to print once), else nullopt.
  std::optional<std::string> EnsureAdmin(const std::string& configured_key);

  // Creates a user; returns it with its API key (the only time the key is visible).
  boost::asio::awaitable<std::pair<User, std::string>> CreateUser(const User& caller,
                                                                  std::string name,
                                                                  std::string email);
  // The user holding this "Authorization" header value; throws 401 when missing/unknown.
  boost::asio::awaitable<User> Authenticate(const std::string& authorization);

 private:
  UserStore& users_;
  Pools pools_;
};

}  // namespace imgd
