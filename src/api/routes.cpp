#include "api/routes.h"

#include <boost/json.hpp>
#include <charconv>
#include <exception>
#include <set>

#include "api/common.h"
#include "api/json_body.h"
#include "api/multipart_source.h"
#include "core/clock.h"
#include "core/errors.h"
#include "core/ids.h"
#include "core/memory_source.h"
#include "http/multipart.h"
#include "http/range.h"
#include "image/transform_spec.h"
#include "obs/log.h"

namespace imgd::api {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using boost::asio::awaitable;
using http::RequestContext;
using http::Response;

namespace {

json::object UserJson(const User& u) {
  return {{"userId", u.id},
          {"userName", u.name},
          {"userEmail", u.email},
          {"isAdmin", u.is_admin},
          {"createdDate", FormatIsoMs(u.created_ms)}};
}

// True when an If-None-Match value matches etag (weak comparison, RFC 9110 §13.1.2).
bool EtagMatches(std::string_view header, const std::string& etag) {
  size_t i = 0;
  while (i < header.size()) {
    while (i < header.size() && (header[i] == ' ' || header[i] == ',')) ++i;
    if (i >= header.size()) break;
    if (header[i] == '*') return true;
    if (header.substr(i, 2) == "W/") i += 2;
    size_t end = header.find(',', i);
    std::string_view tag = header.substr(i, end == std::string_view::npos ? end : end - i);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag == etag) return true;
    if (end == std::string_view::npos) break;
    i = end + 1;
  }
  return false;
}

// Headers every answer about immutable image bytes carries, 304 included.
Response ContentHeaders(const std::string& etag, const std::string& cache_control) {
  Response r;
  r.headers.set(bhttp::field::etag, etag);
  r.headers.set(bhttp::field::cache_control, cache_control);
  r.headers.set(bhttp::field::accept_ranges, "bytes");
  r.headers.set("X-Content-Type-Options", "nosniff");
  return r;
}

// A 304 when If-None-Match matches etag; checked before any bytes are opened or made.
std::optional<Response> NotModified(const RequestContext& ctx, const std::string& etag,
                                    const std::string& cache_control) {
  const std::string inm = ctx.Header(bhttp::field::if_none_match);
  if (inm.empty() || !EtagMatches(inm, etag)) return std::nullopt;
  Response r = ContentHeaders(etag, cache_control);
  r.status = bhttp::status::not_modified;
  return r;
}

// Answers a GET/HEAD for immutable bytes: strong ETag, 304, single ranges, HEAD.
Response ServeBytes(const RequestContext& ctx, const std::string& etag,
                    const std::string& cache_control, std::shared_ptr<ByteSource> bytes) {
  if (auto r = NotModified(ctx, etag, cache_control)) return std::move(*r);
  Response r = ContentHeaders(etag, cache_control);
  r.head = ctx.head;
  const uint64_t size = bytes->size();
  r.headers.set(bhttp::field::content_type, "image/jpeg");
  r.stream = std::move(bytes);
  r.stream_offset = 0;
  r.stream_length = size;
  const std::string range = ctx.Header(bhttp::field::range);
  const std::string if_range = ctx.Header(bhttp::field::if_range);
  if (!range.empty() && (if_range.empty() || if_range == etag)) {
    http::ByteRange br;
    switch (http::ParseRange(range, size, br)) {
      case http::RangeResult::kSatisfiable:
        r.status = bhttp::status::partial_content;
        r.stream_offset = br.offset;
        r.stream_length = br.length;
        r.headers.set(bhttp::field::content_range, "bytes " + std::to_string(br.offset) + "-" +
                                                       std::to_string(br.offset + br.length - 1) +
                                                       "/" + std::to_string(size));
        break;
      case http::RangeResult::kUnsatisfiable: {
        ApiError e(416, "range-not-satisfiable", "Range Not Satisfiable",
                   "the image has " + std::to_string(size) + " bytes");
        Response p = http::Problem(e, ctx.request_id);
        p.headers.set(bhttp::field::content_range, "bytes */" + std::to_string(size));
        return p;
      }
      case http::RangeResult::kNone:
        break;
    }
  }
  return r;
}

// An integer JSON field (absent → fallback; values far out of any range are clamped so
// range checks still see them as out of range); 400 naming it when not an integer.
int IntField(const json::object& o, const char* key, int fallback) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return fallback;
  if (it->value().is_int64()) {
    return static_cast<int>(std::clamp<int64_t>(it->value().as_int64(), -1, 1 << 20));
  }
  if (it->value().is_uint64()) {
    return static_cast<int>(std::min<uint64_t>(it->value().as_uint64(), 1 << 20));
  }
  throw BadParameter(key, std::string("field '") + key + "' must be an integer");
}

// A boolean JSON field (absent → fallback); 400 naming it otherwise.
bool BoolField(const json::object& o, const char* key, bool fallback) {
  auto it = o.find(key);
  if (it == o.end()) return fallback;
  if (!it->value().is_bool()) throw BadParameter(key, std::string(key) + " must be true or false");
  return it->value().as_bool();
}

}  // namespace

void RegisterRoutes(http::Router& router, ApiDeps d) {
  auto deps = std::make_shared<ApiDeps>(std::move(d));

  AuthFn auth = [deps](RequestContext& ctx) -> awaitable<User> {
    User u = co_await deps->users.Authenticate(ctx.Header(bhttp::field::authorization));
    ctx.user_id = u.id;
    // The operator's admin key is not limited (it manages users, it is not a client).
    if (deps->key_requests && !u.is_admin) {
      RateDecision d = deps->key_requests->Take(u.id);
      if (!d.allowed) {
        deps->metrics.Inc("imgd_rate_limited_total", {{"limit", "key_requests"}});
        throw TooManyRequests("too many requests with this API key", d.retry_after_s, d.limit,
                              d.remaining, d.reset_s);
      }
    }
    co_return u;
  };
  RegisterUploadRoutes(router, deps, auth);
  deps->metrics.AddCallback("imgd_uploads_in_progress", [counter = deps->uploads_in_flight] {
    return static_cast<double>(counter->load());
  });

  router.Add(bhttp::verb::get, "/healthz", [](RequestContext&) -> awaitable<Response> {
    co_return http::Json(bhttp::status::ok, {{"status", "ok"}});
  });

  router.Add(bhttp::verb::get, "/readyz", [deps](RequestContext&) -> awaitable<Response> {
    // Each store on its own, so an operator sees which one is down.
    json::object stores;
    std::vector<const char*> failed;
    co_await Offload(deps->pools.blocking, [&] {
      for (const auto& [name, ping] : deps->readiness_checks) {
        try {
          ping();
          stores[name] = "ok";
        } catch (const std::exception& e) {
          // The text may hold hosts, paths or credentials: the log has it, the client not.
          stores[name] = "unavailable";
          failed.push_back(name);
          LogJson("error", "readiness check failed", {{"store", name}, {"error", e.what()}});
        }
      }
    });
    if (!failed.empty()) {
      std::string which;
      for (const char* name : failed) which += (which.empty() ? "" : ", ") + std::string(name);
      ApiError e(503, "unavailable", "Service Unavailable", "a store is not reachable: " + which,
                 {{"stores", stores}});
      e.retry_after = 5;
      throw e;
    }
    co_return http::Json(bhttp::status::ok, {{"status", "ready"}, {"stores", stores}});
  });

  router.Add(bhttp::verb::get, "/metrics", [deps](RequestContext&) -> awaitable<Response> {
    Response r;
    r.headers.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    r.body = deps->metrics.Render();
    co_return r;
  });

  router.Add(
      bhttp::verb::post, "/v1/users", [deps, auth](RequestContext& ctx) -> awaitable<Response> {
        User caller = co_await auth(ctx);
        if (!caller.is_admin) throw Forbidden("only the admin key can create users");
        json::object body = co_await ReadJsonObject(ctx.body);
        for (const auto& kv : body) {
          if (kv.key() != "userName" && kv.key() != "userEmail") {
            throw BadRequest("unknown field '" + std::string(kv.key()) + "'", "unknown-field");
          }
        }
        auto [user, key] =
            co_await deps->users.CreateUser(caller, OptionalString(body, "userName").value_or(""),
                                            OptionalString(body, "userEmail").value_or(""));
        json::object o = UserJson(user);
        o["apiKey"] = key;
        Response r = http::Json(bhttp::status::created, o);
        r.headers.set(bhttp::field::cache_control, "no-store");
        co_return r;
      });

  router.Add(bhttp::verb::get, "/v1/users/me", [auth](RequestContext& ctx) -> awaitable<Response> {
    User caller = co_await auth(ctx);
    co_return http::Json(bhttp::status::ok, UserJson(caller));
  });

  router.Add(
      bhttp::verb::post, "/v1/images",
      Idempotent(deps, auth, [deps, auth](RequestContext& ctx) -> awaitable<Response> {
        User caller = co_await auth(ctx);
        RejectUnknownQuery(ctx, {"onDuplicate", "imageName", "imageDescription", "visibility"});
        auto slot = AdmitUpload(*deps, &caller, ctx);
        UploadMeta meta;
        meta.policy = ParsePolicy(ctx);
        if (auto* v = ctx.Query("visibility")) meta.visibility = CheckVisibility(*v);
        const std::string content_type = ctx.Header(bhttp::field::content_type);
        const std::string media = MediaType(content_type);
        UploadResult result;
        if (media == "multipart/form-data") {
          auto boundary = http::MultipartBoundary(content_type);
          if (!boundary) throw BadRequest("multipart/form-data without a valid boundary");
          MultipartFileSource source(slot->body(), *boundary);
          // Text fields may come before or after the file: they are applied once all is
          // read.
          struct FieldsLate : ChunkSource {
            MultipartFileSource& src;
            UploadMeta& meta;
            FieldsLate(MultipartFileSource& s, UploadMeta& m) : src(s), meta(m) {}
            awaitable<std::span<const char>> Next() override {
              auto chunk = co_await src.Next();
              if (chunk.empty()) {
                auto it = src.fields().find("imageName");
                if (it != src.fields().end())
                  meta.name = CheckText(it->second, "imageName", kMaxName, false);
                it = src.fields().find("imageDescription");
                if (it != src.fields().end()) {
                  meta.description =
                      CheckText(it->second, "imageDescription", kMaxDescription, true);
                }
                it = src.fields().find("visibility");
                if (it != src.fields().end()) meta.visibility = CheckVisibility(it->second);
              }
              co_return chunk;
            }
          } late(source, meta);
          result = co_await deps->images.Upload(caller, late, meta);
        } else if (media == "application/json") {
          co_return co_await PostImageJson(*deps, caller, *slot, meta);
        } else {
          if (auto* n = ctx.Query("imageName"))
            meta.name = CheckText(*n, "imageName", kMaxName, false);
          if (auto* d = ctx.Query("imageDescription")) {
            meta.description = CheckText(*d, "imageDescription", kMaxDescription, true);
          }
          result = co_await deps->images.Upload(caller, slot->body(), meta);
        }
        json::object o = ImageJson(result.image, deps->access);
        if (result.duplicate) o["duplicate"] = true;
        Response r = http::Json(result.duplicate ? bhttp::status::ok : bhttp::status::created, o);
        r.headers.set(bhttp::field::location, "/v1/images/" + result.image.id);
        co_return r;
      }));

  router.Add(
      bhttp::verb::get, "/v1/images", [deps, auth](RequestContext& ctx) -> awaitable<Response> {
        User caller = co_await auth(ctx);
        RejectUnknownQuery(ctx, {"limit", "cursor"});
        int limit = 100;
        if (auto* l = ctx.Query("limit")) {
          auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
          if (ec != std::errc() || p != l->data() + l->size() || limit < 1 || limit > 1000) {
            throw BadRequest("limit must be an integer from 1 to 1000", "invalid-parameter");
          }
        }
        std::string after;
        if (auto* c = ctx.Query("cursor"); c && !c->empty()) {
          if (!Base64UrlDecode(*c, after) || !IsUuid(after)) {
            throw BadRequest("cursor is not a cursor returned by this API", "invalid-parameter");
          }
        }
        auto images = co_await deps->images.List(caller, limit + 1, after);
        json::object o;
        json::array items;
        bool more = static_cast<int>(images.size()) > limit;
        if (more) images.pop_back();
        for (const auto& im : images) items.push_back(ImageJson(im, deps->access));
        o["images"] = std::move(items);
        o["nextCursor"] =
            more ? json::value(Base64UrlEncode(images.back().id)) : json::value(nullptr);
        co_return http::Json(bhttp::status::ok, o);
      });

  router.Add(bhttp::verb::get, "/v1/images/{imageId}",
             [deps, auth](RequestContext& ctx) -> awaitable<Response> {
               User caller = co_await auth(ctx);
               RejectUnknownQuery(ctx, {"include"});
               bool with_data = false;
               if (auto* inc = ctx.Query("include")) {
                 if (*inc != "imageData")
                   throw BadRequest("include must be imageData", "invalid-parameter");
                 with_data = true;
               }
               Image im = co_await deps->images.Get(caller, ctx.params["imageId"]);
               json::object o = ImageJson(im, deps->access);
               if (with_data && im.status == kStatusReady) {
                 std::string bytes = co_await deps->images.ReadAll(im, deps->max_inline_bytes);
                 o["imageData"] = Base64Encode(bytes);
               }
               co_return http::Json(bhttp::status::ok, o);
             });

  router.Add(
      bhttp::verb::patch, "/v1/images/{imageId}",
      [deps, auth](RequestContext& ctx) -> awaitable<Response> {
        User caller = co_await auth(ctx);
        json::object body = co_await ReadJsonObject(ctx.body);
        for (const auto& kv : body) {
          if (kv.key() != "imageName" && kv.key() != "imageDescription" &&
              kv.key() != "visibility") {
            throw BadRequest(
                "field '" + std::string(kv.key()) +
                    "' cannot be changed (only imageName, imageDescription, visibility)",
                "unknown-field");
          }
        }
        ImageStore::ImageChanges changes;
        changes.name = OptionalString(body, "imageName");
        changes.description = OptionalString(body, "imageDescription");
        changes.visibility = OptionalString(body, "visibility");
        if (!changes.name && !changes.description && !changes.visibility) {
          throw BadRequest("nothing to change: give imageName, imageDescription and/or visibility");
        }
        if (changes.name) CheckText(*changes.name, "imageName", kMaxName, false);
        if (changes.description) {
          CheckText(*changes.description, "imageDescription", kMaxDescription, true);
        }
        if (changes.visibility) CheckVisibility(*changes.visibility);
        Image im = co_await deps->images.Update(caller, ctx.params["imageId"], std::move(changes));
        co_return http::Json(bhttp::status::ok, ImageJson(im, deps->access));
      });

  router.Add(bhttp::verb::delete_, "/v1/images/{imageId}",
             [deps, auth](RequestContext& ctx) -> awaitable<Response> {
               User caller = co_await auth(ctx);
               co_await deps->images.Delete(caller, ctx.params["imageId"]);
               Response r;
               r.status = bhttp::status::no_content;
               co_return r;
             });

  // Step 2 of a content read's access check (see ContentAccess), once the image is known:
  // the caller's key is only looked at when a signature is required and absent.
  auto authorize_read = [deps, auth](RequestContext& ctx, const Image& im,
                                     int64_t signed_until) -> awaitable<std::string> {
    std::optional<User> caller;
    if (signed_until == 0 && deps->access.SignatureRequired(im) &&
        !ctx.Header(bhttp::field::authorization).empty()) {
      caller = co_await auth(ctx);
    }
    ReadGrant grant = deps->access.Authorize(im, signed_until, caller ? &*caller : nullptr);
    co_return deps->access.CacheControl(im, grant, signed_until, NowMs() / 1000);
  };

  router.Add(
      bhttp::verb::get, "/v1/images/{imageId}/content",
      [deps, authorize_read](RequestContext& ctx) -> awaitable<Response> {
        // Checked before any lookup, so forged links cost no database work.
        const int64_t signed_until =
            deps->access.CheckSignature(ctx.path, ctx.query, NowMs() / 1000);
        if (HasTransformParams(ctx.query)) {
          TransformSpec spec = ParseTransformQuery(ctx.query, deps->transforms.limits());
          Image im = co_await deps->images.GetReady(ctx.params["imageId"]);
          const std::string cache_control = co_await authorize_read(ctx, im, signed_until);
          // The ETag is known before the variant exists: a revalidation costs no
          // transform.
          const std::string etag = TransformService::VariantEtag(im.sha256, spec);
          if (auto r = NotModified(ctx, etag, cache_control)) co_return std::move(*r);
          Variant v;
          // The image may be deleted while its variant is made (the original gone
          // before or during the read): that is a 404, not a store failure.
          std::exception_ptr failure;
          try {
            v = co_await deps->transforms.Get(im, spec);
          } catch (const OriginalMissing&) {
            failure = std::current_exception();  // (no co_await inside a handler)
          } catch (const StoreError&) {
            failure = std::current_exception();
          }
          if (failure) {
            co_await deps->images.ConfirmReady(im.id);  // 404 once deleted
            std::rethrow_exception(failure);
          }
          co_return ServeBytes(ctx, etag, cache_control, std::make_shared<MemorySource>(v.bytes));
        }
        RejectUnknownQuery(ctx, {});
        Content c = co_await deps->images.OpenContent(ctx.params["imageId"]);
        const std::string cache_control = co_await authorize_read(ctx, c.image, signed_until);
        co_return ServeBytes(ctx, "\"" + c.image.sha256 + "\"", cache_control, c.reader);
      });

  router.Add(bhttp::verb::put, "/v1/images/{imageId}/transform",
             [deps, auth](RequestContext& ctx) -> awaitable<Response> {
               User caller = co_await auth(ctx);
               RejectUnknownQuery(ctx, {});
               json::object body = co_await ReadJsonObject(ctx.body);
               for (const auto& kv : body) {
                 static const std::set<std::string> known = {
                     "resizeWidth", "resizeHeight", "fit", "quality", "enlarge", "progressive"};
                 if (!known.count(std::string(kv.key()))) {
                   throw BadParameter(kv.key(), "unknown field '" + std::string(kv.key()) + "'",
                                      "unknown-parameter");
                 }
               }
               const TransformLimits& limits = deps->transforms.limits();
               TransformSpec spec;
               spec.background = limits.default_background;
               spec.width = IntField(body, "resizeWidth", 0);
               spec.height = IntField(body, "resizeHeight", 0);
               spec.quality = IntField(body, "quality", 80);
               spec.enlarge = BoolField(body, "enlarge", false);
               spec.progressive = BoolField(body, "progressive", false);
               if (auto f = body.find("fit"); f != body.end()) {
                 auto fit = f->value().is_string() ? ParseFit(std::string(f->value().as_string()))
                                                   : std::nullopt;
                 if (!fit)
                   throw BadParameter("fit", "fit must be one of cover, contain, fill, inside");
                 spec.fit = *fit;
               }
               if (spec.quality < 1 || spec.quality > 100) {
                 throw BadParameter("quality", "quality must be an integer from 1 to 100");
               }
               CheckTransformSpec(spec, limits, "resizeWidth", "resizeHeight");
               Image im = co_await deps->images.GetReady(ctx.params["imageId"], &caller);
               Variant v = co_await deps->transforms.Get(im, spec);
               const std::string etag = TransformService::VariantEtag(im.sha256, spec);
               const std::string variant_url = deps->access.Url(im, spec.QueryParams());
               const std::string accept = ctx.Header(bhttp::field::accept);
               if (accept.find("image/jpeg") != std::string::npos &&
                   accept.find("application/json") == std::string::npos) {
                 Response r = ServeBytes(ctx, etag, deps->cache_control,
                                         std::make_shared<MemorySource>(v.bytes));
                 r.headers.set(bhttp::field::content_location, variant_url);
                 co_return r;
               }
               json::object o;
               o["imageId"] = im.id;
               o["resizeWidth"] = spec.width;
               o["resizeHeight"] = spec.height;
               o["fit"] = FitName(spec.fit);
               o["quality"] = spec.quality;
               o["width"] = v.width;
               o["height"] = v.height;
               o["size"] = v.bytes->size();
               o["format"] = "jpg";
               o["variantUrl"] = variant_url;
               o["imageData"] = Base64Encode(*v.bytes);
               Response r = http::Json(bhttp::status::ok, o);
               r.headers.set(bhttp::field::etag, etag);
               co_return r;
             });
}

}  // namespace imgd::api
