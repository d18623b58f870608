#pragma once
// The errors that cross layers. Below the api boundary they say what went wrong in the
// domain's terms (an ErrorCode, a slug, a sentence); http/problem.cpp alone turns them into
// HTTP statuses and RFC 9457 problem+json. Anything else that escapes a handler is a bug and
// becomes a 500.
#include <algorithm>
#include <boost/json/object.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace imgd {

enum class ErrorCode {
  kInvalidArgument,      // the request is malformed or asks for something out of range
  kUnauthenticated,      // no valid API key
  kPermissionDenied,     // the key (or link) does not allow this
  kNotFound,             // no such image, upload or user
  kConflict,             // the state does not allow it now (duplicate, completed, offset)
  kGone,                 // it existed and expired
  kTooLarge,             // the body is over a limit
  kUnsupportedFormat,    // not a JPEG
  kUnprocessable,        // a JPEG that cannot be decoded or breaks a decode limit
  kBusy,                 // another request holds it (an upload being written)
  kRateLimited,          // a rate limit or budget is spent
  kUnavailable,          // overloaded or a store is down: retry later
  kUpstreamTimeout,      // a fetched URL did not answer in time
  kRangeNotSatisfiable,  // protocol: a byte range outside the body
  kMethodNotAllowed,     // protocol: the resource has no such method
  kPreconditionFailed,   // protocol: a required version or precondition is not met
  kInternal,             // a bug
};

// A rate limit's state, told to the caller who hit it.
struct RateLimitState {
  double limit = 0, remaining = 0, reset_s = 0;
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string slug, std::string detail, boost::json::object extra = {})
      : std::runtime_error(detail),
        code_(code),
        slug_(std::move(slug)),
        detail_(std::move(detail)),
        extra_(std::move(extra)) {}

  ErrorCode code() const { return code_; }
  // Short machine-readable name; the problem "type" is "/problems/<slug>".
  const std::string& slug() const { return slug_; }
  const std::string& detail() const { return detail_; }
  // Facts for the caller (the parameter at fault, a limit, the matching image).
  const boost::json::object& extra() const { return extra_; }
  // Seconds the caller should wait before trying again (0 = no advice).
  int retry_after = 0;
  std::optional<RateLimitState> rate_limit;

 private:
  ErrorCode code_;
  std::string slug_, detail_;
  boost::json::object extra_;
};

// A store (database, blob storage) failed or is unreachable. Not the client's fault and
// usually temporary: answered 503 with Retry-After, never 500.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline Error BadRequest(std::string detail, std::string slug = "bad-request") {
  return Error(ErrorCode::kInvalidArgument, std::move(slug), std::move(detail));
}
// About one request parameter (query or JSON field), named in the problem's "parameter"
// member so clients can point at it.
inline Error BadParameter(const std::string& name, std::string detail,
                          std::string slug = "invalid-parameter") {
  return Error(ErrorCode::kInvalidArgument, std::move(slug), std::move(detail),
               {{"parameter", name}});
}
inline Error Unauthorized(std::string detail) {
  return Error(ErrorCode::kUnauthenticated, "unauthorized", std::move(detail));
}
inline Error Forbidden(std::string detail, std::string slug = "forbidden") {
  return Error(ErrorCode::kPermissionDenied, std::move(slug), std::move(detail));
}
inline Error NotFound(std::string detail) {
  return Error(ErrorCode::kNotFound, "not-found", std::move(detail));
}
inline Error Conflict(std::string detail, std::string slug = "conflict",
                      boost::json::object extra = {}) {
  return Error(ErrorCode::kConflict, std::move(slug), std::move(detail), std::move(extra));
}
inline Error PayloadTooLarge(std::string detail) {
  return Error(ErrorCode::kTooLarge, "payload-too-large", std::move(detail));
}
inline Error UnsupportedMediaType(std::string detail, std::string slug = "unsupported-media-type") {
  return Error(ErrorCode::kUnsupportedFormat, std::move(slug), std::move(detail));
}
inline Error Unprocessable(std::string detail, std::string slug = "unprocessable-image") {
  return Error(ErrorCode::kUnprocessable, std::move(slug), std::move(detail));
}
// The original bytes of an image are not in the blob store. Usually the image was just
// deleted (another request still held its record); callers that can look again answer 404
// then. Otherwise the bytes were lost outside imgd's control: unavailable.
class OriginalMissing : public Error {
 public:
  explicit OriginalMissing(const std::string& image_id)
      : Error(ErrorCode::kUnavailable, "unavailable",
              "the bytes of image " + image_id + " are missing") {
    retry_after = 5;
  }
};

// A rate limit refused the request; the caller hears when to retry and the limit's state.
inline Error TooManyRequests(std::string detail, double retry_after_s, double limit,
                             double remaining, double reset_s) {
  Error e(ErrorCode::kRateLimited, "rate-limited", std::move(detail));
  e.retry_after = std::max(1, static_cast<int>(retry_after_s + 0.999));
  e.rate_limit = RateLimitState{limit, remaining, reset_s};
  return e;
}

inline Error Unavailable(std::string detail, int retry_after_s = 1,
                         std::string slug = "unavailable") {
  Error e(ErrorCode::kUnavailable, std::move(slug), std::move(detail));
  e.retry_after = retry_after_s;
  return e;
}

}  // namespace imgd
