#include "blob/sigv4.h"

#include <algorithm>
#include <ctime>
#include <map>

#include "core/hash.h"
#include "core/ids.h"

namespace imgd {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Trims and collapses runs of spaces (canonical header values).
std::string TrimValue(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string Hex(const std::string& raw) {
  return HexEncode({reinterpret_cast<const unsigned char*>(raw.data()), raw.size()});
}

std::string Scope(const SigV4Credentials& creds, const std::string& amz_date) {
  return amz_date.substr(0, 8) + "/" + creds.region + "/" + creds.service + "/aws4_request";
}

std::string SigningKey(const SigV4Credentials& creds, const std::string& date) {
  std::string k = HmacSha256("AWS4" + creds.secret_key, date);
  k = HmacSha256(k, creds.region);
  k = HmacSha256(k, creds.service);
  return HmacSha256(k, "aws4_request");
}

}  // namespace

std::string AmzDate(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string CanonicalQuery(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  for (const auto& [k, v] : query) enc.emplace_back(UriEncode(k, true), UriEncode(v, true));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out;
}

std::string CanonicalRequest(const SigV4Request& req, std::string* signed_headers) {
  std::map<std::string, std::string> headers;  // sorted by lower-case name
  for (const auto& [k, v] : req.headers) {
    auto& slot = headers[Lower(k)];
    slot += (slot.empty() ? "" : ",") + TrimValue(v);
  }
  std::string canonical_headers, names;
  for (const auto& [k, v] : headers) {
    canonical_headers += k + ":" + v + "\n";
    names += (names.empty() ? "" : ";") + k;
  }
  if (signed_headers) *signed_headers = names;
  return req.method + "\n" + req.canonical_uri + "\n" + CanonicalQuery(req.query) + "\n" +
         canonical_headers + "\n" + names + "\n" + req.payload_hash;
}

std::string SigV4Signature(const SigV4Request& req, const SigV4Credentials& creds,
                           const std::string& amz_date) {
  const std::string string_to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" +
                                     Scope(creds, amz_date) + "\n" +
                                     Sha256Hex(CanonicalRequest(req));
  return Hex(HmacSha256(SigningKey(creds, amz_date.substr(0, 8)), string_to_sign));
}

std::string SigV4Authorization(const SigV4Request& req, const SigV4Credentials& creds,
                               const std::string& amz_date) {
  std::string names;
  CanonicalRequest(req, &names);
  return "AWS4-HMAC-SHA256 Credential=" + creds.access_key + "/" + Scope(creds, amz_date) +
         ", SignedHeaders=" + names + ", Signature=" + SigV4Signature(req, creds, amz_date);
}

std::string SigV4PresignQuery(SigV4Request req, const SigV4Credentials& creds,
                              const std::string& amz_date, int64_t expires_seconds) {
  std::string names;
  CanonicalRequest(req, &names);
  req.query.emplace_back("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
  req.query.emplace_back("X-Amz-Credential", creds.access_key + "/" + Scope(creds, amz_date));
  req.query.emplace_back("X-Amz-Date", amz_date);
  req.query.emplace_back("X-Amz-Expires", std::to_string(expires_seconds));
  req.query.emplace_back("X-Amz-SignedHeaders", names);
  req.payload_hash = "UNSIGNED-PAYLOAD";
  const std::string sig = SigV4Signature(req, creds, amz_date);
  return CanonicalQuery(req.query) + "&X-Amz-Signature=" + sig;
}

}  // namespace imgd
