#pragma once
// AWS Signature Version 4 (header and query-string forms), as S3 uses it: the path is
// URI-encoded once and not normalised; the query and headers are canonicalised.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ids.h"  // UriEncode

namespace imgd {

struct SigV4Credentials {
  std::string access_key;
  std::string secret_key;
  std::string region = "us-east-1";
  std::string service = "s3";
};

struct SigV4Request {
  std::string method;
  std::string canonical_uri;  // already encoded, e.g. "/bucket/originals/ab%20c"
  std::vector<std::pair<std::string, std::string>> query;    // decoded name, value
  std::vector<std::pair<std::string, std::string>> headers;  // must include host
  std::string payload_hash;  // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

// "20130524T000000Z" for a Unix time.
std::string AmzDate(int64_t unix_seconds);
// The canonical query string (sorted, encoded).
std::string CanonicalQuery(const std::vector<std::pair<std::string, std::string>>& query);
// The canonical request and the signed header list ("host;range;x-amz-date").
std::string CanonicalRequest(const SigV4Request& req, std::string* signed_headers = nullptr);
// The signature (hex) of req at amz_date.
std::string SigV4Signature(const SigV4Request& req, const SigV4Credentials& creds,
                           const std::string& amz_date);
// The Authorization header value for req, whose headers already hold x-amz-date = amz_date.
std::string SigV4Authorization(const SigV4Request& req, const SigV4Credentials& creds,
                               const std::string& amz_date);
// Query-string signing (pre-signed URLs): returns the full canonical query, ending with
// X-Amz-Signature, for req (whose headers are the ones to sign, usually only host).
std::string SigV4PresignQuery(SigV4Request req, const SigV4Credentials& creds,
                              const std::string& amz_date, int64_t expires_seconds);

}  // namespace imgd
