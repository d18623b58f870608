#include "service/content_access.h"

#include <algorithm>

#include "core/clock.h"
#include "core/errors.h"

namespace imgd {
ContentAccess::ContentAccess(const UrlSigner& signer, ContentAccessOptions opts)
    : signer_(signer), opts_(std::move(opts)) {}

std::string ContentAccess::ContentPath(const std::string& image_id) {
  return "/v1/images/" + image_id + "/content";
}

bool ContentAccess::SignatureRequired(const Image& image) const {
  return opts_.signed_delivery || image.is_private();
}

std::string ContentAccess::Url(const Image& image, const QueryParams& transform) const {
  return Link(image, transform, false).url;
}

ContentLink ContentAccess::Link(const Image& image, const QueryParams& transform,
                                bool force_signed) const {
  const std::string path = ContentPath(image.id);
  ContentLink link;
  link.url = opts_.base_url + path;
  if (force_signed || SignatureRequired(image)) {
    link.is_signed = true;
    link.expires_s = SignedUrlExpiry(NowMs() / 1000, opts_.url_ttl_s);
    link.url += "?" + SignedUrlQuery(signer_, path, transform, link.expires_s);
  } else if (!transform.empty()) {
    link.url += "?" + CanonicalSignedQuery(transform);
  }
  return link;
}

int64_t ContentAccess::CheckSignature(std::string_view path, QueryParams& query,
                                      int64_t now_s) const {
  int64_t expires = 0;
  const SignatureCheck check = VerifySignedUrl(signer_, path, query, now_s, &expires);
  switch (check) {
    case SignatureCheck::kAbsent:
      return 0;
    case SignatureCheck::kMalformed:
      throw Forbidden("a signed URL needs expires (Unix seconds), kid and sig together",
                      "signature-malformed");
    case SignatureCheck::kInvalid:
      throw Forbidden("the URL's signature does not match (changed, or an unknown key id)",
                      "signature-invalid");
    case SignatureCheck::kExpired:
      throw Forbidden("the signed URL expired at " + query.at("expires") +
                          " (Unix seconds); ask the API for a fresh one",
                      "signature-expired");
    case SignatureCheck::kValid:
      break;
  }
  for (auto it = query.begin(); it != query.end();) {
    it = IsSignatureParam(it->first) ? query.erase(it) : std::next(it);
  }
  return expires;
}

ReadGrant ContentAccess::Authorize(const Image& image, int64_t signed_until,
                                   const User* caller) const {
  if (signed_until > 0) return ReadGrant::kSigned;
  if (!SignatureRequired(image)) return ReadGrant::kOpen;
  if (caller && (caller->id == image.user_id || caller->is_admin)) return ReadGrant::kOwner;
  if (caller) throw Forbidden("image " + image.id + " is private to its owner");
  throw Forbidden(
      image.is_private()
          ? "image " + image.id + " is private: use a signed URL from the API or the owner's key"
          : "content URLs must be signed: use the imageUrl/variantUrl the API "
            "returns, or the owner's key",
      "signature-required");
}

std::string ContentAccess::CacheControl(const Image& image, ReadGrant grant, int64_t signed_until,
                                        int64_t now_s) const {
  switch (grant) {
    case ReadGrant::kOpen:
      return OpenCacheControl();
    case ReadGrant::kOwner:
      return "private, no-cache";
    case ReadGrant::kSigned:
      break;
  }
  const int64_t left = std::clamp<int64_t>(signed_until - now_s, 0, 31536000);
  return std::string(image.is_private() ? "private" : "public") +
         ", max-age=" + std::to_string(left);
}

}  // namespace imgd
