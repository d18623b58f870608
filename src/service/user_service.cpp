#include "service/user_service.h"

#include <strings.h>

#include "core/clock.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/ids.h"

namespace imgd {
namespace {

std::string NewApiKey() { return "imgd_" + RandomToken(32); }

void CheckField(const std::string& value, const char* field, size_t max) {
  if (value.empty()) throw BadRequest(std::string(field) + " is required", "invalid-field");
  if (value.size() > max) {
    throw BadRequest(std::string(field) + " is longer than " + std::to_string(max) + " bytes",
                     "invalid-field");
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      throw BadRequest(std::string(field) + " contains control characters", "invalid-field");
    }
  }
}

}  // namespace

std::optional<std::string> UserService::EnsureAdmin(const std::string& configured_key) {
  if (!configured_key.empty()) {
    users_.SetAdminKey(Sha256Hex(configured_key));
    return std::nullopt;
  }
  if (users_.HasAdmin()) return std::nullopt;
  std::string key = NewApiKey();
  users_.SetAdminKey(Sha256Hex(key));
  return key;
}

boost::asio::awaitable<std::pair<User, std::string>> UserService::CreateUser(const User& caller,
                                                                             std::string name,
                                                                             std::string email) {
  if (!caller.is_admin) throw Forbidden("only the admin key can create users");
  CheckField(name, "userName", 256);
  CheckField(email, "userEmail", 320);
  auto at = email.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == email.size()) {
    throw BadRequest("userEmail is not an email address", "invalid-field");
  }
  User u;
  u.id = NewUuidV7();
  u.name = std::move(name);
  u.email = std::move(email);
  u.created_ms = NowMs();
  std::string key = NewApiKey();
  std::string hash = Sha256Hex(key);
  co_await Offload(pools_.blocking, [&] { users_.CreateUser(u, hash); });
  co_return std::make_pair(u, key);
}

boost::asio::awaitable<User> UserService::Authenticate(const std::string& authorization) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.empty()) {
    throw Unauthorized("missing Authorization header (expected 'Bearer <apiKey>')");
  }
  if (authorization.size() <= kBearer.size() ||
      strncasecmp(authorization.c_str(), kBearer.data(), kBearer.size()) != 0) {
    throw Unauthorized("Authorization must be 'Bearer <apiKey>'");
  }
  std::string key = authorization.substr(kBearer.size());
  if (key.size() > 256) throw Unauthorized("invalid API key");
  std::string hash = Sha256Hex(key);
  auto user = co_await Offload(pools_.blocking, [&] { return users_.FindUserByKeyHash(hash); });
  if (!user) throw Unauthorized("invalid API key");
  co_return *user;
}

}  // namespace imgd
