#include "api/common.h"

#include "core/clock.h"
#include "core/errors.h"
#include "core/types.h"

namespace imgd::api {

json::object ImageJson(const Image& im, const ContentAccess& access) {
  json::object o;
  o["imageId"] = im.id;
  o["imageUrl"] = access.Url(im);
  o["imageName"] = im.name;
  o["imageDescription"] = im.description;
  o["createdBy"] = im.created_by;
  o["createdDate"] = FormatIsoMs(im.created_ms);
  o["modifiedBy"] = im.modified_by;
  o["modifiedDate"] = FormatIsoMs(im.modified_ms);
  o["format"] = im.format;
  o["size"] = im.size;
  o["width"] = im.width;
  o["height"] = im.height;
  o["blurhash"] = im.blurhash.empty() ? json::value(nullptr) : json::value(im.blurhash);
  o["sha256"] = im.sha256.empty() ? json::value(nullptr) : json::value(im.sha256);
  o["userId"] = im.user_id;
  o["status"] = im.status;
  o["visibility"] = im.visibility;
  if (im.status == kStatusPending) o["expiresAt"] = FormatIsoMs(im.expires_ms);
  return o;
}

// Text from a client: bounded, valid UTF-8 without control characters (newline and tab
// allowed in descriptions).
std::string CheckText(const std::string& v, const char* field, size_t max, bool multiline) {
  if (v.size() > max) {
    throw BadRequest(std::string(field) + " is longer than " + std::to_string(max) + " bytes",
                     "invalid-field");
  }
  for (size_t i = 0; i < v.size();) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > v.size()) {
      throw BadRequest(std::string(field) + " is not valid UTF-8", "invalid-field");
    }
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(v[i + k]) & 0xc0) != 0x80) {
        throw BadRequest(std::string(field) + " is not valid UTF-8", "invalid-field");
      }
    }
    if (n == 1 && (c < 0x20 || c == 0x7f) && !(multiline && (c == '\n' || c == '\t'))) {
      throw BadRequest(std::string(field) + " contains control characters", "invalid-field");
    }
    i += n;
  }
  return v;
}

void RejectUnknownQuery(const RequestContext& ctx, std::initializer_list<const char*> allowed) {
  for (const auto& [k, v] : ctx.query) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || k == a;
    if (!ok) throw BadRequest("unknown query parameter '" + k + "'", "unknown-parameter");
  }
}

json::array SimilarJson(const std::vector<SimilarImage>& similar) {
  json::array a;
  for (const auto& s : similar)
    a.push_back(json::object{{"imageId", s.image_id}, {"distance", s.distance}});
  return a;
}

Response UploadAnswer(const UploadResult& result, const ContentAccess& access,
                      bool created_status) {
  json::object o = ImageJson(result.image, access);
  if (result.duplicate) o["duplicate"] = true;
  if (result.near_checked) o["nearDuplicates"] = SimilarJson(result.near_duplicates);
  Response r = http::Json(
      created_status && !result.duplicate ? bhttp::status::created : bhttp::status::ok, o);
  r.headers.set(bhttp::field::location, "/v1/images/" + result.image.id);
  return r;
}

std::string CheckVisibility(const std::string& v) {
  if (v != kVisibilityPublic && v != kVisibilityPrivate) {
    throw BadParameter("visibility", "visibility must be public or private");
  }
  return v;
}

DuplicatePolicy ParsePolicy(const RequestContext& ctx) {
  const std::string* v = ctx.Query("onDuplicate");
  if (!v) return DuplicatePolicy::kReturnExisting;
  auto p = ParsePolicyName(*v);
  if (!p)
    throw BadParameter("onDuplicate",
                       "onDuplicate must be one of return, reject, new, reject-similar");
  return *p;
}

std::string MediaType(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

}  // namespace imgd::api
