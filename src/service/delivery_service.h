#pragma once
// Delivery: the reads of an image's bytes, the original or a variant, with every rule they
// follow in one place: the signature (checked before any lookup, so forged links cost no
// database work), visibility and ownership, the ETag known before any pixel is made (a
// revalidation costs no transform), the Cache-Control each grant allows, and a delete that
// races the read (a 404, not a store failure).
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/byte_source.h"
#include "core/types.h"
#include "image/transform_spec.h"
#include "service/content_access.h"
#include "service/image_service.h"
#include "service/transform_service.h"

namespace imgd {

// GET /v1/images/{id}/content[?w=&h=...], as the handler parsed it.
struct ContentRequest {
  std::string image_id;
  std::string path;           // the decoded path, as signed
  QueryParams query;          // every parameter, signature ones included
  std::string if_none_match;  // "" when absent
  std::string accept;         // the Accept header, for format=auto
  // The caller's user from the request's API key; empty when it carried none. Asked only
  // when the image needs a signature the request lacks.
  std::function<boost::asio::awaitable<User>()> authenticate;
};

struct Delivery {
  Image image;
  std::string etag;
  std::string cache_control;
  const char* content_type = "image/jpeg";
  bool vary_accept = false;           // format=auto: the answer depends on Accept
  std::shared_ptr<ByteSource> bytes;  // null when If-None-Match matched: answer 304
};

// A content read as the warm path sees it: views into the request, nothing copied.
struct MemoryReadRequest {
  std::string_view image_id;
  QueryView query;  // every parameter, as sent
  std::string_view if_none_match;
  std::string_view accept;
};

// Read's answer when memory alone gives it, without Read's copies. The ETag is written into
// the caller's buffer.
struct MemoryDelivery {
  std::shared_ptr<const Image> image;
  const std::string* cache_control = nullptr;
  const char* content_type = "image/jpeg";
  bool vary_accept = false;
  std::shared_ptr<const std::string> bytes;  // null when If-None-Match matched: answer 304
  std::shared_ptr<const MemoryFile> file;    // the same bytes as a file, when cached so
};

// PUT /v1/images/{id}/transform: a variant made for its owner now.
struct MadeVariant {
  Image image;
  Variant variant;
  std::string etag;
  std::string url;  // where the variant is read from (signed when needed)
};

// GET /v1/images/{id}/url: a link to the caller's image or one of its variants.
struct ImageLink {
  Image image;
  ContentLink link;
};

class DeliveryService {
 public:
  DeliveryService(ImageService& images, TransformService& transforms, const ContentAccess& access);

  // A content read. Throws Error: 403 (signature or key), 400 (transform parameters),
  // 404 (no such image, or deleted during the read), 409 (pending), 422/503 as
  // TransformService::Get.
  boost::asio::awaitable<Delivery> Read(ContentRequest request);
  // Read's answer from this node's memory alone: when the query has no signature and the
  // image needs none (an open read), the image's record is cached, and If-None-Match
  // matches or the variant is cached. False in every other case (a miss, an original's
  // bytes, anything Read would refuse): Read then answers, by the same rules. Never
  // waits, never throws; etag is cleared and written.
  bool ReadFromMemory(const MemoryReadRequest& request, MemoryDelivery& out,
                      std::string& etag) noexcept;
  // The caller's variant of their image (403 for another user's).
  boost::asio::awaitable<MadeVariant> MakeVariant(const User& caller, const std::string& image_id,
                                                  const TransformSpec& spec);
  // A link to the caller's image (403 for another user's, 404 for none) or, when query has
  // variant parameters, to that variant: checked as a read of it would be (400 naming the
  // parameter), so a link the API hands out works. Signed when the image needs it, or when
  // force_signed.
  boost::asio::awaitable<ImageLink> Link(const User& caller, const std::string& image_id,
                                         const QueryParams& query, bool force_signed);

 private:
  boost::asio::awaitable<Variant> VariantOf(const Image& image, const TransformSpec& spec);

  ImageService& images_;
  TransformService& transforms_;
  const ContentAccess& access_;
};

}  // namespace imgd
