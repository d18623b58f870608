#pragma once
// The one error type that crosses layers: services throw it, the HTTP layer renders it as
// RFC 9457 problem+json. Anything else that escapes a handler is a bug and becomes a 500.
#include <algorithm>
#include <boost/json/object.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace imgd {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string slug, std::string title, std::string detail,
           boost::json::object extra = {})
      : std::runtime_error(detail),
        status_(status),
        slug_(std::move(slug)),
        title_(std::move(title)),
        detail_(std::move(detail)),
        extra_(std::move(extra)) {}

  int status() const { return status_; }
  // Short machine-readable name; the problem "type" is "/problems/<slug>".
  const std::string& slug() const { return slug_; }
  const std::string& title() const { return title_; }
  const std::string& detail() const { return detail_; }
  const boost::json::object& extra() const { return extra_; }
  // Seconds for a Retry-After header (0 = none).
  int retry_after = 0;
  // More response headers (the RateLimit-* fields of a 429).
  std::vector<std::pair<std::string, std::string>> headers;

 private:
  int status_;
  std::string slug_, title_, detail_;
  boost::json::object extra_;
};

// A store (database, blob storage) failed or is unreachable. Not the client's fault and
// usually temporary: the HTTP layer answers 503 with Retry-After, never 500.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline ApiError BadRequest(std::string detail, std::string slug = "bad-request") {
  return ApiError(400, std::move(slug), "Bad Request", std::move(detail));
}
// A 400 about one request parameter (query or JSON field), named in the problem's
// "parameter" member so clients can point at it.
inline ApiError BadParameter(const std::string& name, std::string detail,
                             std::string slug = "invalid-parameter") {
  return ApiError(400, std::move(slug), "Bad Request", std::move(detail), {{"parameter", name}});
}
inline ApiError Unauthorized(std::string detail) {
  return ApiError(401, "unauthorized", "Unauthorized", std::move(detail));
}
inline ApiError Forbidden(std::string detail) {
  return ApiError(403, "forbidden", "Forbidden", std::move(detail));
}
inline ApiError NotFound(std::string detail) {
  return ApiError(404, "not-found", "Not Found", std::move(detail));
}
inline ApiError Conflict(std::string detail, std::string slug = "conflict",
                         boost::json::object extra = {}) {
  return ApiError(409, std::move(slug), "Conflict", std::move(detail), std::move(extra));
}
inline ApiError PayloadTooLarge(std::string detail) {
  return ApiError(413, "payload-too-large", "Payload Too Large", std::move(detail));
}
inline ApiError UnsupportedMediaType(std::string detail) {
  return ApiError(415, "unsupported-media-type", "Unsupported Media Type", std::move(detail));
}
inline ApiError Unprocessable(std::string detail, std::string slug = "unprocessable-image") {
  return ApiError(422, std::move(slug), "Unprocessable Content", std::move(detail));
}
// The original bytes of an image are not in the blob store. Usually the image was just
// deleted (another request still held its record); callers that can look again answer 404
// then. Otherwise the bytes were lost outside imgd's control: 503.
class OriginalMissing : public ApiError {
 public:
  explicit OriginalMissing(const std::string& image_id)
      : ApiError(503, "unavailable", "Service Unavailable",
                 "the bytes of image " + image_id + " are missing") {
    retry_after = 5;
  }
};

// A rate limit refused the request: 429 with Retry-After and RateLimit-* headers.
inline ApiError TooManyRequests(std::string detail, double retry_after_s, double limit,
                                double remaining, double reset_s) {
  ApiError e(429, "rate-limited", "Too Many Requests", std::move(detail));
  e.retry_after = std::max(1, static_cast<int>(retry_after_s + 0.999));
  e.headers = {{"RateLimit-Limit", std::to_string(static_cast<long long>(limit))},
               {"RateLimit-Remaining", std::to_string(static_cast<long long>(remaining))},
               {"RateLimit-Reset", std::to_string(static_cast<long long>(reset_s + 0.999))}};
  return e;
}

inline ApiError Unavailable(std::string detail, int retry_after_s = 1) {
  ApiError e(503, "unavailable", "Service Unavailable", std::move(detail));
  e.retry_after = retry_after_s;
  return e;
}

}  // namespace imgd
