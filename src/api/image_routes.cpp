// /v1/images: direct uploads (raw body, multipart, or JSON for the pre-signed and imageUrl
// flows), the caller's list, one image's record, changes and deletes.
#include <boost/json.hpp>
#include <charconv>

#include "api/common.h"
#include "api/json_body.h"
#include "api/multipart_source.h"
#include "api/routes.h"
#include "core/errors.h"
#include "core/ids.h"
#include "http/multipart.h"
#include "service/upload_token.h"

namespace imgd::api {

void RegisterImageRoutes(http::Router& router, std::shared_ptr<ApiDeps> deps, AuthFn auth) {
  router.Add(
      bhttp::verb::post, "/v1/images",
      Idempotent(deps, auth, [deps, auth](RequestContext& ctx) -> awaitable<Response> {
        User caller = co_await auth(ctx);
        RejectUnknownQuery(ctx, {"onDuplicate", "imageName", "imageDescription", "visibility"});
        auto slot = AdmitUpload(*deps, &caller, ctx);
        UploadMeta meta;
        meta.policy = ParsePolicy(ctx);
        if (auto* v = ctx.Query("visibility")) meta.visibility = CheckVisibility(*v);
        // Checked whatever the flow, so a bad value is never silently dropped (a multipart
        // part or a JSON field of the same name takes precedence).
        if (auto* n = ctx.Query("imageName"))
          meta.name = CheckText(*n, "imageName", kMaxName, false);
        if (auto* d = ctx.Query("imageDescription")) {
          meta.description = CheckText(*d, "imageDescription", kMaxDescription, true);
        }
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
          result = co_await deps->direct_uploads.Upload(caller, late, meta);
        } else if (media == "application/json") {
          co_return co_await PostImageJson(*deps, caller, *slot, meta);
        } else {
          result = co_await deps->direct_uploads.Upload(caller, slot->body(), meta);
        }
        co_return UploadAnswer(result, deps->access, true);
      }));

  router.Add(
      bhttp::verb::get, "/v1/images", [deps, auth](RequestContext& ctx) -> awaitable<Response> {
        User caller = co_await auth(ctx);
        RejectUnknownQuery(ctx, {"limit", "cursor", "sha256"});
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
        if (const std::string* sha = ctx.Query("sha256")) {
          // The one image of these bytes, if the caller has it: "do I need to send this?"
          // (One page at most: limit and cursor are checked, and change nothing.)
          const std::string declared = *sha;  // a named local, not a temporary in a co_await
          if (!IsSha256Hex(declared)) {
            throw BadParameter("sha256", "sha256 must be the bytes' SHA-256 as 64 hex digits");
          }
          auto found = co_await deps->images.FindByContent(caller, declared);
          json::array items;
          if (found) items.push_back(ImageJson(*found, deps->access));
          co_return http::Json(bhttp::status::ok,
                               json::object{{"images", std::move(items)}, {"nextCursor", nullptr}});
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

  router.Add(bhttp::verb::get, "/v1/images/{imageId}/similar",
             [deps, auth](RequestContext& ctx) -> awaitable<Response> {
               User caller = co_await auth(ctx);
               RejectUnknownQuery(ctx, {"maxDistance"});
               int max_distance = deps->images.near_duplicate_threshold();
               if (const std::string* v = ctx.Query("maxDistance")) {
                 auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), max_distance);
                 if (ec != std::errc() || p != v->data() + v->size() || max_distance < 0 ||
                     max_distance > SimilarityStore::kMaxDistance) {
                   throw BadParameter("maxDistance",
                                      "maxDistance must be an integer from 0 to " +
                                          std::to_string(SimilarityStore::kMaxDistance));
                 }
               }
               const std::string& id = ctx.params["imageId"];
               auto similar = co_await deps->images.Similar(caller, id, max_distance);
               json::object o;
               o["imageId"] = id;
               o["maxDistance"] = max_distance;
               o["similar"] = SimilarJson(similar);
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
               if (!with_data) {
                 Image im = co_await deps->images.Get(caller, ctx.params["imageId"]);
                 co_return http::Json(bhttp::status::ok, ImageJson(im, deps->access));
               }
               auto r = co_await deps->images.GetWithData(caller, ctx.params["imageId"],
                                                          deps->max_inline_bytes);
               json::object o = ImageJson(r.image, deps->access);
               if (r.data) o["imageData"] = Base64Encode(*r.data);
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
}

}  // namespace imgd::api
