#include "api/json_body.h"

#include <boost/json/parse.hpp>

#include "core/errors.h"

namespace imgd::api {

boost::asio::awaitable<boost::json::object> ReadJsonObject(ChunkSource& body, size_t max_bytes) {
  std::string text;
  for (;;) {
    auto chunk = co_await body.Next();
    if (chunk.empty()) break;
    if (text.size() + chunk.size() > max_bytes) {
      throw PayloadTooLarge("JSON body larger than " + std::to_string(max_bytes) + " bytes");
    }
    text.append(chunk.data(), chunk.size());
  }
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) throw BadRequest("malformed JSON body: " + ec.message(), "malformed-json");
  if (!v.is_object()) throw BadRequest("JSON body must be an object", "malformed-json");
  co_return std::move(v.as_object());
}

std::optional<std::string> OptionalString(const boost::json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  // null is not "absent": a client that sends it means something, and is told what is allowed.
  if (!it->value().is_string()) {
    throw BadRequest(std::string(key) + " must be a string", "invalid-field");
  }
  return std::string(it->value().as_string());
}

}  // namespace imgd::api
