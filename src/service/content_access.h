#pragma once
// Who may read an image's content, and the URLs the API hands out for it.
//
// A read is allowed when the URL carries a valid signature (core/signed_url: path and
// every parameter signed, expiring), or the caller presents the owner's (or the admin's)
// key, or neither is needed: signed delivery is off and the image is public. A present but
// bad signature is refused even where none is needed, so a tampered link never works.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/signed_url.h"
#include "core/types.h"
#include "core/url_signer.h"

namespace imgd {

struct ContentAccessOptions {
  std::string base_url;          // imageUrl = <base_url>/v1/images/<id>/content
  bool signed_delivery = false;  // every content URL needs a signature (or the owner's key)
  int64_t url_ttl_s = 3600;      // lifetime of the signed URLs handed out
  std::string cache_control;     // for reads that need no signature
};

// A content URL as the API hands it out.
struct ContentLink {
  std::string url;
  bool is_signed = false;
  int64_t expires_s = 0;  // Unix seconds; 0 when not signed
};

enum class ReadGrant {
  kOpen,    // no signature needed
  kSigned,  // a valid signature
  kOwner,   // the owner's or the admin's key
};

class ContentAccess {
 public:
  ContentAccess(const UrlSigner& signer, ContentAccessOptions opts);

  static std::string ContentPath(const std::string& image_id);
  // The image's content URL, with the transform parameters (w=300...), signed when signed
  // delivery is on or the image is private.
  std::string Url(const Image& image, const QueryParams& transform = {}) const;
  // The same, signed also when force_signed (a link that expires, to share).
  ContentLink Link(const Image& image, const QueryParams& transform, bool force_signed) const;
  bool SignatureRequired(const Image& image) const;

  // Step 1, before any lookup: the signature of a content request (path and full query),
  // 403 problem+json when one is present but malformed, forged or expired. Removes the
  // signature parameters from query, so what remains are the transform parameters. Returns
  // the signature's expiry when valid, 0 when there was none.
  int64_t CheckSignature(std::string_view path, QueryParams& query, int64_t now_s) const;
  // Step 2, once the image is known: whether this read may proceed. signed_until is step
  // 1's result; caller is the key's user when the request carried one (null otherwise;
  // only looked at when a signature is required and absent). 403 when a signature or the
  // owner's key is needed and absent.
  ReadGrant Authorize(const Image& image, int64_t signed_until, const User* caller) const;
  // Cache-Control for an answer under grant: a signed answer is cacheable no longer than
  // its signature lives (a CDN must not serve it after), and only privately for private
  // images; the owner's answers are private.
  std::string CacheControl(const Image& image, ReadGrant grant, int64_t signed_until,
                           int64_t now_s) const;
  // CacheControl's answer for ReadGrant::kOpen, without a copy.
  const std::string& OpenCacheControl() const { return opts_.cache_control; }

  const ContentAccessOptions& options() const { return opts_; }

 private:
  const UrlSigner& signer_;
  ContentAccessOptions opts_;
};

}  // namespace imgd
