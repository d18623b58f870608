// Upload flows beyond a single request body: the seed's JSON POST (pre-signed URL or
// imageUrl), PUT to a pre-signed URL, tus resumable uploads, and Idempotency-Key.
#include <boost/json.hpp>
#include <charconv>
#include <ctime>
#include <set>

#include "api/common.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "api/tus_headers.h"
#include "core/clock.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/ids.h"
#include "service/upload_token.h"

namespace imgd::api {

namespace {

constexpr const char* kTusVersion = "1.0.0";

// IMF-fixdate (RFC 9110), for Upload-Expires.
std::string HttpDate(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

void TusHeaders(Response& r) {
  r.headers.set("Tus-Resumable", kTusVersion);
  r.headers.set(bhttp::field::cache_control, "no-store");
}

// 412 unless the client speaks our tus version.
void RequireTus(const RequestContext& ctx) {
  if (ctx.Header("Tus-Resumable") != kTusVersion) {
    Error e(ErrorCode::kPreconditionFailed, "tus-version",
            "send Tus-Resumable: 1.0.0 (the tus version this server speaks)");
    throw e;
  }
}

std::optional<uint64_t> NumberHeader(const RequestContext& ctx, const char* name) {
  std::string v = ctx.Header(name);
  if (v.empty()) return std::nullopt;
  auto n = ParseHeaderNumber(v);
  if (!n) throw BadParameter(name, std::string(name) + " must be a non-negative integer");
  return n;
}

// Hashes a request body as it is read (for Idempotency-Key fingerprints).
class HashingSource final : public ChunkSource {
 public:
  explicit HashingSource(ChunkSource& in) : in_(in) {}
  awaitable<std::span<const char>> Next() override {
    std::span<const char> chunk = co_await in_.Next();
    hasher_.Update(chunk.data(), chunk.size());
    co_return chunk;
  }
  awaitable<void> Drain() {
    for (;;) {
      std::span<const char> chunk = co_await Next();
      if (chunk.empty()) break;
    }
  }
  std::string Hex() { return hasher_.FinalHex(); }

 private:
  ChunkSource& in_;
  Sha256 hasher_;
};

uint64_t SizeField(const json::object& o) {
  auto it = o.find("size");
  if (it == o.end() || it->value().is_null()) {
    throw BadParameter("size", "size (the number of bytes you will upload) is required");
  }
  const json::value& v = it->value();
  if (v.is_uint64()) return v.as_uint64();
  if (v.is_int64() && v.as_int64() >= 0) return static_cast<uint64_t>(v.as_int64());
  throw BadParameter("size", "size must be a positive integer number of bytes");
}

std::optional<std::string> TextField(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  // null is not a string either: the document allows none of these fields to be null.
  if (!it->value().is_string()) throw BadParameter(key, std::string(key) + " must be a string");
  return std::string(it->value().as_string());
}

}  // namespace

awaitable<Response> PostImageJson(ApiDeps& deps, const User& caller, UploadSlot& slot,
                                  UploadMeta meta) {
  json::object body = co_await ReadJsonObject(slot.body());
  const bool by_url = body.contains("imageUrl");
  static const std::set<std::string> presign_fields = {"imageName", "imageDescription", "format",
                                                       "size",      "visibility",       "sha256"};
  static const std::set<std::string> url_fields = {"imageName", "imageDescription", "imageUrl",
                                                   "visibility"};
  for (const auto& kv : body) {
    if (!(by_url ? url_fields : presign_fields).count(std::string(kv.key()))) {
      throw BadParameter(kv.key(), "unknown field '" + std::string(kv.key()) + "'",
                         "unknown-field");
    }
  }
  if (auto n = TextField(body, "imageName"))
    meta.name = CheckText(*n, "imageName", kMaxName, false);
  if (auto d = TextField(body, "imageDescription")) {
    meta.description = CheckText(*d, "imageDescription", kMaxDescription, true);
  }
  if (auto v = TextField(body, "visibility")) meta.visibility = CheckVisibility(*v);
  if (by_url) {
    std::string url = TextField(body, "imageUrl").value_or("");
    // The fetched bytes are the caller's upload: charged to their budget as they arrive.
    UploadResult result = co_await deps.url_uploads.UploadFromUrl(
        caller, url, meta, [&slot](uint64_t n) { slot.Pay(n); });
    co_return UploadAnswer(result, deps.access, true);
  }
  std::string format = TextField(body, "format").value_or("jpg");
  for (char& c : format) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (format != "jpg" && format != "jpeg") {
    throw UnsupportedMediaType("format must be jpg or jpeg: imgd stores JPEG images only");
  }
  std::string sha256 = TextField(body, "sha256").value_or("");
  for (char& c : sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (body.contains("sha256") && !IsSha256Hex(sha256)) {
    throw BadParameter("sha256", "sha256 must be the bytes' SHA-256 as 64 hex digits");
  }
  PresignedUploadService::Presigned p =
      co_await deps.presigned.CreatePresigned(caller, meta, SizeField(body), sha256);
  if (p.existing) {
    UploadResult known;
    known.image = std::move(*p.existing);
    known.duplicate = true;
    co_return UploadAnswer(known, deps.access, true);
  }
  json::object o = ImageJson(p.image, deps.access);
  o["preSignedUrl"] = p.url.starts_with("/") ? deps.public_base_url + p.url : p.url;
  o["uploadMethod"] = "PUT";
  if (p.direct) {
    // The bytes go to the blob store; imgd learns of them here.
    // The declared hash rides along: completing checks the bytes against it.
    o["completeUrl"] = deps.public_base_url + "/v1/images/" + p.image.id + "/complete" +
                       (sha256.empty() ? "" : "?sha256=" + sha256);
  }
  o["expiresAt"] = FormatIsoMs(p.expires_ms);
  Response r = http::Json(bhttp::status::created, o);
  r.headers.set(bhttp::field::location, "/v1/images/" + p.image.id);
  r.headers.set(bhttp::field::cache_control, "no-store");
  co_return r;
}

http::Handler Idempotent(std::shared_ptr<ApiDeps> deps, AuthFn auth, http::Handler inner) {
  return [deps, auth, inner](RequestContext& ctx) -> awaitable<Response> {
    // Absent: an ordinary request. Present but empty (or malformed): 400, not silently none.
    if (ctx.header.find("Idempotency-Key") == ctx.header.end()) co_return co_await inner(ctx);
    const std::string key = ctx.Header("Idempotency-Key");
    IdempotencyService::CheckKey(key);
    User caller = co_await auth(ctx);
    // What makes two requests "the same": method, path, parameters, media type, and (known
    // once read) the body's bytes.
    std::string request(ctx.header.method_string());
    request.append("\n").append(ctx.path).append("\n");
    for (const auto& [k, v] : ctx.query) request.append(k).append("=").append(v).append("&");
    request.append("\n").append(MediaType(ctx.Header(bhttp::field::content_type))).append("\n");
    HashingSource hashed(ctx.body);
    auto earlier = co_await deps->idempotency.Claim(caller.id, key, Sha256Hex(request));
    if (earlier) {
      co_await hashed.Drain();
      if (earlier->fingerprint != Sha256Hex(request + hashed.Hex())) {
        throw Unprocessable("Idempotency-Key '" + key + "' was used for a different request",
                            "idempotency-key-reused");
      }
      Response r;
      r.status = static_cast<bhttp::status>(earlier->status);
      r.body = earlier->body;
      r.headers.set(bhttp::field::content_type, "application/json");
      if (!earlier->location.empty()) r.headers.set(bhttp::field::location, earlier->location);
      r.headers.set("Idempotent-Replayed", "true");
      r.headers.set(bhttp::field::cache_control, "no-store");
      deps->metrics.Inc("imgd_idempotent_replays_total");
      co_return r;
    }
    RequestContext inner_ctx{ctx.header,    ctx.path, ctx.query, ctx.params,  ctx.request_id,
                             ctx.client_ip, ctx.head, hashed,    ctx.user_id, ctx.trace};
    Response r;
    std::exception_ptr failure;
    try {
      r = co_await inner(inner_ctx);
      ctx.user_id = inner_ctx.user_id;
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      // Failed requests change nothing: forget the key so a retry runs again.
      co_await deps->idempotency.Release(caller.id, key);
      std::rethrow_exception(failure);
    }
    co_await hashed.Drain();
    IdempotencyRecord rec;
    rec.fingerprint = Sha256Hex(request + hashed.Hex());
    rec.status = static_cast<int>(r.status);
    rec.body = r.body;
    auto loc = r.headers.find(bhttp::field::location);
    if (loc != r.headers.end()) rec.location = std::string(loc->value());
    co_await deps->idempotency.Complete(caller.id, key, rec);
    co_return r;
  };
}

void RegisterUploadRoutes(http::Router& router, std::shared_ptr<ApiDeps> deps, AuthFn auth) {
  // After a PUT straight to the blob store's pre-signed URL.
  router.Add(bhttp::verb::post, "/v1/images/{imageId}/complete",
             [deps, auth](RequestContext& ctx) -> awaitable<Response> {
               User caller = co_await auth(ctx);
               RejectUnknownQuery(ctx, {"onDuplicate", "sha256"});
               const std::string* query_sha = ctx.Query("sha256");
               // A named local, not a temporary in the co_await (GCC 12 frees those twice).
               const std::string declared = query_sha ? *query_sha : "";
               if (query_sha && !IsSha256Hex(declared)) {
                 throw BadParameter("sha256", "sha256 must be the bytes' SHA-256 as 64 hex digits");
               }
               UploadResult result = co_await deps->presigned.CompleteDirect(
                   caller, ctx.params["imageId"], ParsePolicy(ctx), declared);
               co_return UploadAnswer(result, deps->access, false);
             });

  // The pre-signed URL: no API key, the signature is the authorisation.
  router.Add(bhttp::verb::put, "/v1/uploads/{token}",
             [deps](RequestContext& ctx) -> awaitable<Response> {
               const std::string& token = ctx.params["token"];
               if (!PresignedUploadService::IsPresignedToken(token)) {
                 throw Forbidden("PUT needs a pre-signed upload URL; resumable uploads use PATCH");
               }
               std::optional<uint64_t> length;
               if (!ctx.Header(bhttp::field::content_length).empty()) {
                 length = NumberHeader(ctx, "Content-Length");
               }
               // No API key here (the URL is the credential): the upload counts for the key
               // that made the URL, once the token names it.
               auto slot = AdmitUpload(*deps, nullptr, ctx);
               UploadResult result = co_await deps->presigned.CompletePresigned(
                   token, "PUT", length, slot->body(),
                   [&](const std::string& owner, uint64_t size) { slot->AdmitOwner(owner, size); });
               co_return UploadAnswer(result, deps->access, false);
             });

  router.Add(bhttp::verb::options, "/v1/uploads", [deps](RequestContext&) -> awaitable<Response> {
    Response r;
    r.status = bhttp::status::no_content;
    TusHeaders(r);
    r.headers.set("Tus-Version", kTusVersion);
    r.headers.set("Tus-Extension", "creation,termination,expiration");
    r.headers.set("Tus-Max-Size", std::to_string(deps->resumable.options().max_upload_bytes));
    co_return r;
  });

  router.Add(bhttp::verb::post, "/v1/uploads",
             [deps, auth](RequestContext& ctx) -> awaitable<Response> {
               User caller = co_await auth(ctx);
               RequireTus(ctx);
               RejectUnknownQuery(ctx, {"onDuplicate"});
               if (!ctx.Header("Upload-Defer-Length").empty()) {
                 throw BadParameter("Upload-Defer-Length",
                                    "Upload-Defer-Length is not supported: send Upload-Length");
               }
               auto length = NumberHeader(ctx, "Upload-Length");
               if (!length) throw BadParameter("Upload-Length", "Upload-Length is required");
               TusMetadata tus = ParseTusMetadata(ctx.Header("Upload-Metadata"));
               UploadMeta meta;
               meta.policy = ParsePolicy(ctx);
               meta.name = std::move(tus.name);
               meta.description = std::move(tus.description);
               meta.visibility = std::move(tus.visibility);
               ResumableUpload u = co_await deps->resumable.CreateResumable(caller, meta, *length);
               Response r;
               r.status = bhttp::status::created;
               TusHeaders(r);
               r.headers.set(bhttp::field::location, deps->public_base_url + "/v1/uploads/" + u.id);
               r.headers.set("Upload-Offset", "0");
               r.headers.set("Upload-Expires", HttpDate(u.expires_ms));
               co_return r;
             });

  // A pre-signed token used with another method than PUT.
  auto not_token = [](const std::string& id) {
    if (PresignedUploadService::IsPresignedToken(id)) {
      Error e(ErrorCode::kMethodNotAllowed, "method-not-allowed",
              "a pre-signed upload URL only accepts PUT");
      throw e;
    }
  };

  // GET (and HEAD, which tus uses): the offset to resume from.
  router.Add(bhttp::verb::get, "/v1/uploads/{uploadId}",
             [deps, auth, not_token](RequestContext& ctx) -> awaitable<Response> {
               not_token(ctx.params["uploadId"]);
               User caller = co_await auth(ctx);
               auto p = co_await deps->resumable.Status(caller, ctx.params["uploadId"]);
               json::object o;
               o["uploadId"] = p.upload.id;
               o["offset"] = p.offset;
               o["length"] = p.upload.length;
               o["expiresAt"] = FormatIsoMs(p.upload.expires_ms);
               o["imageId"] = p.upload.image_id.empty() ? json::value(nullptr)
                                                        : json::value(p.upload.image_id);
               if (p.image) o["image"] = ImageJson(p.image->image, deps->access);
               Response r = http::Json(bhttp::status::ok, o);
               TusHeaders(r);
               r.head = ctx.head;
               r.headers.set("Upload-Offset", std::to_string(p.offset));
               r.headers.set("Upload-Length", std::to_string(p.upload.length));
               r.headers.set("Upload-Expires", HttpDate(p.upload.expires_ms));
               co_return r;
             });

  router.Add(bhttp::verb::patch, "/v1/uploads/{uploadId}",
             [deps, auth, not_token](RequestContext& ctx) -> awaitable<Response> {
               not_token(ctx.params["uploadId"]);
               User caller = co_await auth(ctx);
               RequireTus(ctx);
               if (MediaType(ctx.Header(bhttp::field::content_type)) !=
                   "application/offset+octet-stream") {
                 throw UnsupportedMediaType(
                     "PATCH bodies are Content-Type: application/offset+octet-stream");
               }
               auto offset = NumberHeader(ctx, "Upload-Offset");
               if (!offset) throw BadParameter("Upload-Offset", "Upload-Offset is required");
               auto body_length = NumberHeader(ctx, "Content-Length");
               auto slot = AdmitUpload(*deps, &caller, ctx);
               auto p = co_await deps->resumable.Patch(caller, ctx.params["uploadId"], *offset,
                                                       body_length, slot->body());
               Response r;
               r.status = bhttp::status::no_content;
               if (p.image) {
                 // The last chunk: answer with the image (tus clients accept any 2xx).
                 r = UploadAnswer(*p.image, deps->access, false);
               }
               TusHeaders(r);
               r.headers.set("Upload-Offset", std::to_string(p.offset));
               r.headers.set("Upload-Expires", HttpDate(p.upload.expires_ms));
               co_return r;
             });

  router.Add(bhttp::verb::delete_, "/v1/uploads/{uploadId}",
             [deps, auth, not_token](RequestContext& ctx) -> awaitable<Response> {
               not_token(ctx.params["uploadId"]);
               User caller = co_await auth(ctx);
               RequireTus(ctx);
               co_await deps->resumable.Terminate(caller, ctx.params["uploadId"]);
               Response r;
               r.status = bhttp::status::no_content;
               TusHeaders(r);
               co_return r;
             });
}

}  // namespace imgd::api
