#include "service/delivery_service.h"

#include <exception>

#include "core/clock.h"
#include "core/errors.h"
#include "core/etag.h"
#include "core/memory_source.h"

namespace imgd {

using boost::asio::awaitable;

DeliveryService::DeliveryService(ImageService& images, TransformService& transforms,
                                 const ContentAccess& access)
    : images_(images), transforms_(transforms), access_(access) {}

awaitable<Delivery> DeliveryService::Read(ContentRequest request) {
  // Before any lookup, so forged links cost no database work; what remains in the query
  // are the transform parameters.
  const int64_t signed_until = access_.CheckSignature(request.path, request.query, NowMs() / 1000);
  Delivery d;
  if (!HasTransformParams(request.query)) {
    for (const auto& [name, value] : request.query) {
      throw BadRequest("unknown query parameter '" + name + "'", "unknown-parameter");
    }
    Content c = co_await images_.OpenContent(request.image_id);
    d.cache_control = co_await Authorize(request, c.image, signed_until);
    d.etag = "\"" + c.image.sha256 + "\"";
    if (!EtagMatches(request.if_none_match, d.etag)) d.bytes = std::move(c.reader);
    d.image = std::move(c.image);
    co_return d;
  }
  const TransformSpec spec = ParseTransformQuery(request.query, transforms_.limits());
  d.image = co_await images_.GetReady(request.image_id);
  d.cache_control = co_await Authorize(request, d.image, signed_until);
  // Known before the variant exists: a revalidation costs no transform.
  d.etag = TransformService::VariantEtag(d.image.sha256, spec);
  if (EtagMatches(request.if_none_match, d.etag)) co_return d;
  Variant v = co_await VariantOf(d.image, spec);
  d.bytes = std::make_shared<MemorySource>(v.bytes);
  co_return d;
}

awaitable<MadeVariant> DeliveryService::MakeVariant(const User& caller, const std::string& image_id,
                                                    const TransformSpec& spec) {
  MadeVariant m;
  m.image = co_await images_.GetReady(image_id, &caller);
  m.variant = co_await VariantOf(m.image, spec);
  m.etag = TransformService::VariantEtag(m.image.sha256, spec);
  m.url = access_.Url(m.image, spec.QueryParams());
  co_return m;
}

// Once the image is known: the caller's key is only looked at when a signature is required
// and absent. Returns the Cache-Control the grant allows.
awaitable<std::string> DeliveryService::Authorize(ContentRequest& request, const Image& image,
                                                  int64_t signed_until) {
  std::optional<User> caller;
  if (signed_until == 0 && access_.SignatureRequired(image) && request.authenticate) {
    caller = co_await request.authenticate();
  }
  ReadGrant grant = access_.Authorize(image, signed_until, caller ? &*caller : nullptr);
  co_return access_.CacheControl(image, grant, signed_until, NowMs() / 1000);
}

// The image may be deleted while its variant is made (the original gone before or during
// the read): that is a 404, not a store failure.
awaitable<Variant> DeliveryService::VariantOf(const Image& image, const TransformSpec& spec) {
  std::exception_ptr failure;
  try {
    co_return co_await transforms_.Get(image, spec);
  } catch (const OriginalMissing&) {
    failure = std::current_exception();
  } catch (const StoreError&) {
    failure = std::current_exception();
  }
  co_await images_.ConfirmReady(image.id);  // 404 once deleted
  std::rethrow_exception(failure);
}

}  // namespace imgd
