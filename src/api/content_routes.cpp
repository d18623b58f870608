// Delivery: an image's bytes (original or variant) for anyone the access rules let in, and
// the owner's PUT /transform. Encoding only: conditional requests, ranges, HEAD.
#include <boost/json.hpp>
#include <set>
#include <string_view>
#include <utility>

#include "api/common.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "core/clock.h"
#include "core/errors.h"
#include "core/etag.h"
#include "core/ids.h"
#include "core/memory_source.h"
#include "http/range.h"
#include "image/transform_spec.h"
#include "service/edge_purger.h"

namespace imgd::api {

namespace {

// Answers a GET/HEAD for immutable bytes: strong ETag, 304 (when If-None-Match matches,
// or bytes is null: the service found it matching before opening or making any), single
// ranges, HEAD. ContentFastLane writes the same lines in the same order (test_warm_lane
// compares the two paths).
Response ServeBytes(const RequestContext& ctx, const std::string& etag,
                    const std::string& cache_control, std::shared_ptr<ByteSource> bytes,
                    const std::string& surrogate_keys = "", const char* content_type = "image/jpeg",
                    bool vary_accept = false) {
  Response r;
  r.headers.set(bhttp::field::etag, etag);
  r.headers.set(bhttp::field::cache_control, cache_control);
  // format=auto: caches must keep one copy per (normalised) Accept; other URLs name their
  // bytes fully and carry no Vary.
  if (vary_accept) r.headers.set(bhttp::field::vary, "Accept");
  if (!surrogate_keys.empty()) {
    // What edges purge by (see EdgePurger): Varnish's xkey, and the CDNs' Surrogate-Key.
    // A 304 carries them too: a cache that re-indexes a refreshed copy must keep its keys.
    r.headers.set("xkey", surrogate_keys);
    r.headers.set("Surrogate-Key", surrogate_keys);
  }
  if (!bytes || EtagMatches(ctx.Header(bhttp::field::if_none_match), etag)) {
    // Only what updates the stored copy (RFC 9110 15.4.5): a cache keeps the fields a 304
    // leaves out (RFC 9111 4.3.4), and the warm 304 is the most frequent answer of all.
    r.status = bhttp::status::not_modified;
    return r;
  }
  r.headers.set(bhttp::field::accept_ranges, "bytes");
  r.headers.set("X-Content-Type-Options", "nosniff");
  r.head = ctx.head;
  const uint64_t size = bytes->size();
  r.headers.set(bhttp::field::content_type, content_type);
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
        Error e(ErrorCode::kRangeNotSatisfiable, "range-not-satisfiable",
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

// GET /v1/images/{imageId}/content answered from memory (http/fast_lane.h): a cached
// variant or a 304, with exactly ServeBytes' headers. Declines ranges, signed URLs and
// whatever the service cannot answer without waiting.
class ContentFastLane final : public http::FastLane {
 public:
  ContentFastLane(std::shared_ptr<ApiDeps> deps, std::string route)
      : deps_(std::move(deps)), route_(std::move(route)) {}

  bool TryAnswer(const http::PlainTarget& target, const http::LaneRequest& lane,
                 http::FastAnswer& answer) const noexcept override {
    constexpr std::string_view kPrefix = "/v1/images/", kSuffix = "/content";
    const std::string_view path = target.path;
    if (path.size() <= kPrefix.size() + kSuffix.size() || !path.starts_with(kPrefix) ||
        !path.ends_with(kSuffix)) {
      return false;
    }
    const std::string_view id =
        path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
    if (id.find('/') != std::string_view::npos) return false;
    MemoryReadRequest request{id, QueryView(target.params, target.param_count), lane.if_none_match,
                              lane.accept};
    thread_local std::string etag;  // reused: a warm answer allocates nothing
    MemoryDelivery d;
    if (!deps_->delivery.ReadFromMemory(request, d, etag)) return false;
    // ServeBytes' fields, in its order, written as literals: one shared list of fields for
    // both was measured at ~900 more instructions per answer (four appends a line instead of
    // one per run of literals), so test_warm_lane compares the two paths byte for byte
    // instead. Every value is built from hex digits, ids and literals, or is Cache-Control,
    // which the configuration checks for control characters: none can hold a CR or LF.
    using namespace std::string_view_literals;
    std::string& out = answer.header_lines;
    out += "ETag: "sv;
    out += etag;
    out += "\r\n"sv;
    out += "Cache-Control: "sv;
    out += *d.cache_control;
    out += "\r\n"sv;
    if (d.vary_accept) out += "Vary: Accept\r\n"sv;
    out += "xkey: "sv;
    AppendContentSurrogateKeys(out, d.image->id, d.image->sha256);
    out += "\r\nSurrogate-Key: "sv;
    AppendContentSurrogateKeys(out, d.image->id, d.image->sha256);
    out += "\r\n"sv;
    if (d.bytes) {
      out += "Accept-Ranges: bytes\r\nX-Content-Type-Options: nosniff\r\nContent-Type: "sv;
      out += d.content_type;
      out += "\r\n"sv;
      answer.status = bhttp::status::ok;
    } else {
      answer.status = bhttp::status::not_modified;
    }
    answer.body = std::move(d.bytes);
    answer.body_file = std::move(d.file);
    answer.route = &route_;
    return true;
  }

 private:
  std::shared_ptr<ApiDeps> deps_;
  const std::string route_;
};

// An integer JSON field (absent → fallback; values far out of any range are clamped so
// range checks still see them as out of range); 400 naming it when not an integer.
int IntField(const json::object& o, const char* key, int fallback) {
  auto it = o.find(key);
  if (it == o.end()) return fallback;
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

void RegisterContentRoutes(http::Router& router, std::shared_ptr<ApiDeps> deps, AuthFn auth) {
  static const std::string kContentRoute = "/v1/images/{imageId}/content";
  router.SetFastLane(std::make_unique<ContentFastLane>(deps, kContentRoute));
  router.Add(bhttp::verb::get, kContentRoute,
             [deps, auth](RequestContext& ctx) -> awaitable<Response> {
               // The handler's own copies of the target's parts: moved, not copied again.
               ContentRequest request{std::move(ctx.params["imageId"]),
                                      std::move(ctx.path),
                                      std::move(ctx.query),
                                      ctx.Header(bhttp::field::if_none_match),
                                      ctx.Header(bhttp::field::accept),
                                      {}};
               if (!ctx.Header(bhttp::field::authorization).empty()) {
                 request.authenticate = [&ctx, auth] { return auth(ctx); };
               }
               Delivery d = co_await deps->delivery.Read(std::move(request));
               std::string keys;
               AppendContentSurrogateKeys(keys, d.image.id, d.image.sha256);
               co_return ServeBytes(ctx, d.etag, d.cache_control, std::move(d.bytes), keys,
                                    d.content_type, d.vary_accept);
             });

  router.Add(bhttp::verb::get, "/v1/images/{imageId}/url",
             [deps, auth](RequestContext& ctx) -> awaitable<Response> {
               User caller = co_await auth(ctx);
               QueryParams query = ctx.query;
               bool force_signed = false;
               if (auto it = query.find("signed"); it != query.end()) {
                 if (it->second != "true" && it->second != "false") {
                   throw BadParameter("signed", "signed must be true or false");
                 }
                 force_signed = it->second == "true";
                 query.erase(it);
               }
               ImageLink l =
                   co_await deps->delivery.Link(caller, ctx.params["imageId"], query, force_signed);
               json::object o;
               o["imageId"] = l.image.id;
               o["url"] = l.link.url;
               o["signed"] = l.link.is_signed;
               o["expiresAt"] = l.link.is_signed ? json::value(FormatIsoMs(l.link.expires_s * 1000))
                                                 : json::value(nullptr);
               co_return http::Json(bhttp::status::ok, o);
             });

  router.Add(
      bhttp::verb::put, "/v1/images/{imageId}/transform",
      [deps, auth](RequestContext& ctx) -> awaitable<Response> {
        User caller = co_await auth(ctx);
        RejectUnknownQuery(ctx, {});
        json::object body = co_await ReadJsonObject(ctx.body);
        for (const auto& kv : body) {
          static const std::set<std::string> known = {
              "resizeWidth", "resizeHeight", "fit", "quality", "enlarge", "progressive", "format"};
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
          auto fit =
              f->value().is_string() ? ParseFit(std::string(f->value().as_string())) : std::nullopt;
          if (!fit) throw BadParameter("fit", "fit must be one of cover, contain, fill, inside");
          spec.fit = *fit;
        }
        if (spec.quality < 1 || spec.quality > 100) {
          throw BadParameter("quality", "quality must be an integer from 1 to 100");
        }
        if (auto f = body.find("format"); f != body.end()) {
          auto format = f->value().is_string() ? ParseFormat(std::string(f->value().as_string()))
                                               : std::nullopt;
          if (!format) throw BadParameter("format", "format must be one of jpeg, webp, avif");
          spec.format = *format;
        }
        CheckTransformSpec(spec, limits, "resizeWidth", "resizeHeight");
        MadeVariant m = co_await deps->delivery.MakeVariant(caller, ctx.params["imageId"], spec);
        const Variant& v = m.variant;
        const std::string& etag = m.etag;
        const std::string& variant_url = m.url;
        const std::string accept = ctx.Header(bhttp::field::accept);
        const char* media = FormatMediaType(spec.format);
        if (accept.find(media) != std::string::npos &&
            accept.find("application/json") == std::string::npos) {
          Response r = ServeBytes(ctx, etag, deps->cache_control,
                                  std::make_shared<MemorySource>(v.bytes), "", media);
          r.headers.set(bhttp::field::content_location, variant_url);
          co_return r;
        }
        json::object o;
        o["imageId"] = m.image.id;
        o["resizeWidth"] = spec.width;
        o["resizeHeight"] = spec.height;
        o["fit"] = FitName(spec.fit);
        o["quality"] = spec.quality;
        o["width"] = v.width;
        o["height"] = v.height;
        o["size"] = v.bytes->size();
        o["format"] = spec.format == OutputFormat::kJpeg ? "jpg" : FormatName(spec.format);
        o["variantUrl"] = variant_url;
        o["imageData"] = Base64Encode(*v.bytes);
        Response r = http::Json(bhttp::status::ok, o);
        r.headers.set(bhttp::field::etag, etag);
        co_return r;
      });
}

}  // namespace imgd::api
