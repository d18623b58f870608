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
  std::optional<TransformSpec> spec;
  bool vary_accept = false;
  if (auto f = request.query.find("format"); f != request.query.end() && f->second == "auto") {
    // Negotiated here, after the signature (which covers "auto") and before the spec: the
    // variant, its key and its ETag are those of the format chosen.
    f->second = FormatName(NegotiateFormat(request.accept));
    vary_accept = true;
  }
  if (HasTransformParams(request.query)) {
    spec = ParseTransformQuery(request.query, transforms_.limits());
  } else if (!request.query.empty()) {
    throw BadRequest("unknown query parameter '" + request.query.begin()->first + "'",
                     "unknown-parameter");
  }
  // The original's reader is opened with its record (one hop to the blocking pool); a
  // variant needs only the record, usually from memory.
  Content c;
  if (spec) {
    c.image = co_await images_.GetReady(request.image_id);
  } else {
    c = co_await images_.OpenContent(request.image_id);
  }
  // The caller's key is only looked at when a signature is required and absent.
  std::optional<User> caller;
  if (signed_until == 0 && request.authenticate && access_.SignatureRequired(c.image)) {
    caller = co_await request.authenticate();
  }
  const ReadGrant grant = access_.Authorize(c.image, signed_until, caller ? &*caller : nullptr);
  Delivery d;
  d.cache_control = access_.CacheControl(c.image, grant, signed_until, NowMs() / 1000);
  d.content_type = spec ? FormatMediaType(spec->format) : "image/jpeg";
  d.vary_accept = vary_accept;
  // A variant's ETag is known before the variant exists: a revalidation costs no transform.
  d.etag =
      spec ? TransformService::VariantEtag(c.image.sha256, *spec) : "\"" + c.image.sha256 + "\"";
  if (!EtagMatches(request.if_none_match, d.etag)) {
    if (spec) {
      Variant v = co_await VariantOf(c.image, *spec);
      d.bytes = std::make_shared<MemorySource>(std::move(v.bytes));
    } else {
      d.bytes = std::move(c.reader);
    }
  }
  d.image = std::move(c.image);
  co_return d;
}

bool DeliveryService::ReadFromMemory(const MemoryReadRequest& request, MemoryDelivery& out,
                                     std::string& etag) noexcept {
  // The query, with format=auto negotiated as Read does; a signature, anything else Read
  // would look at or refuse, and more parameters than a spec has, go to Read.
  constexpr size_t kMaxParams = 8;
  if (request.query.size() > kMaxParams) return false;
  std::pair<std::string_view, std::string_view> params[kMaxParams];
  bool vary_accept = false;
  for (size_t i = 0; i < request.query.size(); ++i) {
    params[i] = request.query[i];
    const std::string_view name = params[i].first;
    if (name == "expires" || name == "kid" || name == "sig") return false;
    for (size_t j = 0; j < i; ++j) {
      if (params[j].first == name) return false;  // a repeat: Read's first-value rule decides
    }
    if (name == "format" && params[i].second == "auto") {
      params[i].second = FormatName(NegotiateFormat(request.accept));
      vary_accept = true;
    }
  }
  const QueryView query(params, request.query.size());
  std::optional<TransformSpec> spec;
  if (!query.empty()) {
    try {
      spec = ParseTransformParams(query, transforms_.limits());
    } catch (...) {
      return false;  // Read answers with the 400
    }
  }
  out.image = images_.CachedReady(request.image_id);
  if (!out.image || access_.SignatureRequired(*out.image)) return false;
  out.cache_control = &access_.OpenCacheControl();
  out.content_type = spec ? FormatMediaType(spec->format) : "image/jpeg";
  out.vary_accept = vary_accept;
  etag.clear();
  if (spec) {
    TransformService::AppendVariantEtag(etag, out.image->sha256, *spec);
  } else {
    etag += '"';
    etag += out.image->sha256;
    etag += '"';
  }
  out.bytes = nullptr;
  out.file = nullptr;
  if (EtagMatches(request.if_none_match, etag)) return true;
  if (!spec) return false;  // an original's bytes are read from the store
  std::optional<Variant> v = transforms_.Cached(out.image->sha256, *spec);
  if (!v) return false;
  out.bytes = std::move(v->bytes);
  out.file = std::move(v->file);
  return true;
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

awaitable<ImageLink> DeliveryService::Link(const User& caller, const std::string& image_id,
                                           const QueryParams& query, bool force_signed) {
  QueryParams transform;
  if (HasTransformParams(query)) {
    // format=auto stays in the link (the reader's Accept decides); checked as JPEG.
    QueryParams checked = query;
    const bool automatic = checked.count("format") && checked["format"] == "auto";
    if (automatic) checked.erase("format");
    transform = ParseTransformQuery(checked, transforms_.limits()).QueryParams();
    if (automatic) transform["format"] = "auto";
  } else if (!query.empty()) {
    throw BadRequest("unknown query parameter '" + query.begin()->first + "'", "unknown-parameter");
  }
  ImageLink l;
  l.image = co_await images_.Get(caller, image_id);
  l.link = access_.Link(l.image, transform, force_signed);
  co_return l;
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
