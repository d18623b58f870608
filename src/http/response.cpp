#include "http/response.h"

#include <boost/json/serialize.hpp>

#include "core/ids.h"

namespace imgd::http {

namespace bhttp = boost::beast::http;

Response Json(bhttp::status status, const boost::json::value& v) {
  Response r;
  r.status = status;
  r.headers.set(bhttp::field::content_type, "application/json");
  r.body = boost::json::serialize(v);
  return r;
}

namespace {

struct StatusAndTitle {
  bhttp::status status;
  const char* title;
};

StatusAndTitle Map(ErrorCode code) {
  using S = bhttp::status;
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return {S::bad_request, "Bad Request"};
    case ErrorCode::kUnauthenticated:
      return {S::unauthorized, "Unauthorized"};
    case ErrorCode::kPermissionDenied:
      return {S::forbidden, "Forbidden"};
    case ErrorCode::kNotFound:
      return {S::not_found, "Not Found"};
    case ErrorCode::kConflict:
      return {S::conflict, "Conflict"};
    case ErrorCode::kGone:
      return {S::gone, "Gone"};
    case ErrorCode::kTooLarge:
      return {S::payload_too_large, "Payload Too Large"};
    case ErrorCode::kUnsupportedFormat:
      return {S::unsupported_media_type, "Unsupported Media Type"};
    case ErrorCode::kUnprocessable:
      return {S::unprocessable_entity, "Unprocessable Content"};
    case ErrorCode::kBusy:
      return {S::locked, "Locked"};
    case ErrorCode::kRateLimited:
      return {S::too_many_requests, "Too Many Requests"};
    case ErrorCode::kUnavailable:
      return {S::service_unavailable, "Service Unavailable"};
    case ErrorCode::kUpstreamTimeout:
      return {S::gateway_timeout, "Gateway Timeout"};
    case ErrorCode::kRangeNotSatisfiable:
      return {S::range_not_satisfiable, "Range Not Satisfiable"};
    case ErrorCode::kMethodNotAllowed:
      return {S::method_not_allowed, "Method Not Allowed"};
    case ErrorCode::kPreconditionFailed:
      return {S::precondition_failed, "Precondition Failed"};
    case ErrorCode::kInternal:
      break;
  }
  return {S::internal_server_error, "Internal Server Error"};
}

std::string Whole(double v) { return std::to_string(static_cast<long long>(v)); }

}  // namespace

bhttp::status HttpStatus(ErrorCode code) { return Map(code).status; }

Response Problem(const Error& e, const std::string& request_id) {
  const StatusAndTitle st = Map(e.code());
  boost::json::object o = e.extra();
  o["type"] = "/problems/" + e.slug();
  o["title"] = st.title;
  o["status"] = static_cast<int>(st.status);
  o["detail"] = e.detail();
  o["requestId"] = request_id;
  Response r;
  r.status = st.status;
  r.headers.set(bhttp::field::content_type, "application/problem+json");
  if (e.retry_after > 0) r.headers.set(bhttp::field::retry_after, std::to_string(e.retry_after));
  if (e.rate_limit) {
    r.headers.set("RateLimit-Limit", Whole(e.rate_limit->limit));
    r.headers.set("RateLimit-Remaining", Whole(e.rate_limit->remaining));
    r.headers.set("RateLimit-Reset", Whole(e.rate_limit->reset_s + 0.999));
  }
  r.body = boost::json::serialize(o);
  return r;
}

std::string BareProblem(int status, std::string_view title, std::string_view slug,
                        std::string_view detail) {
  boost::json::object o;
  o["type"] = "/problems/" + std::string(slug);
  o["title"] = title;
  o["status"] = status;
  o["detail"] = detail;
  o["requestId"] = NewRequestId();
  const std::string body = boost::json::serialize(o);
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(title) +
         "\r\nContent-Type: application/problem+json\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

Response MethodNotAllowed(std::string_view method,
                          const std::vector<boost::beast::http::verb>& allowed,
                          const std::string& request_id) {
  std::string allow;
  for (auto v : allowed) {
    if (!allow.empty()) allow += ", ";
    allow += std::string(boost::beast::http::to_string(v));
  }
  Error e(ErrorCode::kMethodNotAllowed, "method-not-allowed",
          std::string(method) + " is not allowed here; allowed: " + allow);
  Response r = Problem(e, request_id);
  r.headers.set(boost::beast::http::field::allow, allow);
  return r;
}

}  // namespace imgd::http
