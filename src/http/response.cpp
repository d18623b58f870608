#include "http/response.h"

#include <boost/json/serialize.hpp>

namespace imgd::http {

namespace bhttp = boost::beast::http;

Response Json(bhttp::status status, const boost::json::value& v) {
  Response r;
  r.status = status;
  r.headers.set(bhttp::field::content_type, "application/json");
  r.body = boost::json::serialize(v);
  return r;
}

Response Problem(const ApiError& e, const std::string& request_id) {
  boost::json::object o = e.extra();
  o["type"] = "/problems/" + e.slug();
  o["title"] = e.title();
  o["status"] = e.status();
  o["detail"] = e.detail();
  o["requestId"] = request_id;
  Response r;
  r.status = static_cast<bhttp::status>(e.status());
  r.headers.set(bhttp::field::content_type, "application/problem+json");
  if (e.retry_after > 0) r.headers.set(bhttp::field::retry_after, std::to_string(e.retry_after));
  for (const auto& [name, value] : e.headers) r.headers.set(name, value);
  r.body = boost::json::serialize(o);
  return r;
}

}  // namespace imgd::http
