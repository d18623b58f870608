// Files imgd serves itself: the web console (/ and /assets/*) and the OpenAPI document
// (/v1/openapi.json), all compiled in. And the check that the document and the router
// agree: imgd refuses to start when a route is served but not described, or described but
// not served.
#include <boost/json.hpp>
#include <set>
#include <stdexcept>

#include "api/common.h"
#include "api/embedded_assets.h"
#include "api/routes.h"
#include "core/errors.h"
#include "core/etag.h"
#include "core/memory_source.h"

namespace imgd::api {

const EmbeddedAsset* FindEmbeddedAsset(std::string_view url) {
  for (const auto& a : EmbeddedAssets()) {
    if (a.url == url) return &a;
  }
  return nullptr;
}

namespace {

bool AcceptsGzip(const RequestContext& ctx) {
  // A q=0 coding is rare enough from browsers that a plain substring test is the honest
  // trade; anything that says gzip gets it.
  const std::string ae = ctx.Header(bhttp::field::accept_encoding);
  return ae.find("gzip") != std::string::npos && ae.find("gzip;q=0") == std::string::npos;
}

Response ServeAsset(const RequestContext& ctx, const EmbeddedAsset& a,
                    std::string_view cache_control) {
  Response r;
  r.headers.set(bhttp::field::etag, a.etag);
  r.headers.set(bhttp::field::cache_control, cache_control);
  r.headers.set(bhttp::field::vary, "Accept-Encoding");
  r.headers.set("X-Content-Type-Options", "nosniff");
  if (EtagMatches(ctx.Header(bhttp::field::if_none_match), std::string(a.etag))) {
    r.status = bhttp::status::not_modified;
    return r;
  }
  r.head = ctx.head;
  r.headers.set(bhttp::field::content_type, a.content_type);
  // Sent from the binary's own copy, not copied per request.
  std::string_view bytes = a.body;
  if (!a.gzip_body.empty() && AcceptsGzip(ctx)) {
    r.headers.set(bhttp::field::content_encoding, "gzip");
    bytes = a.gzip_body;
  }
  r.stream = std::make_shared<StaticSource>(bytes);
  r.stream_offset = 0;
  r.stream_length = bytes.size();
  return r;
}

// The scheme://host[:port] of a URL ("" when it has none).
std::string Origin(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  size_t end = url.find('/', scheme + 3);
  return url.substr(0, end);
}

}  // namespace

std::string ConsoleContentSecurityPolicy(const std::string& public_base_url) {
  // Scripts and styles only from imgd's own files (no inline code, no eval); images from
  // imgd, the public base (an edge may serve content) and the playground's blob: previews;
  // API calls to the same places; no framing, no plugins, no <base> games.
  std::string base = Origin(public_base_url);
  std::string extra = base.empty() ? "" : " " + base;
  return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:" +
         extra + "; connect-src 'self'" + extra +
         "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
}

void RegisterConsoleRoutes(http::Router& router, std::shared_ptr<ApiDeps> deps) {
  const std::string csp = ConsoleContentSecurityPolicy(deps->public_base_url);
  router.Add(bhttp::verb::get, "/", [csp](RequestContext& ctx) -> awaitable<Response> {
    RejectUnknownQuery(ctx, {});
    const EmbeddedAsset* page = FindEmbeddedAsset("/");
    if (!page) throw NotFound("this build has no console");
    Response r = ServeAsset(ctx, *page, "no-cache");
    r.headers.set("Content-Security-Policy", csp);
    r.headers.set("X-Frame-Options", "DENY");
    r.headers.set("Referrer-Policy", "no-referrer");
    r.headers.set("Cross-Origin-Opener-Policy", "same-origin");
    co_return r;
  });
  router.Add(bhttp::verb::get, "/assets/{asset}", [](RequestContext& ctx) -> awaitable<Response> {
    RejectUnknownQuery(ctx, {});
    const EmbeddedAsset* a = FindEmbeddedAsset("/assets/" + ctx.params["asset"]);
    if (!a) throw NotFound("no such asset");
    // Names carry a content hash: a new build is new names.
    co_return ServeAsset(ctx, *a, "public, max-age=31536000, immutable");
  });
  router.Add(bhttp::verb::get, "/v1/openapi.json", [](RequestContext& ctx) -> awaitable<Response> {
    RejectUnknownQuery(ctx, {});
    const EmbeddedAsset* a = FindEmbeddedAsset("/v1/openapi.json");
    if (!a) throw NotFound("this build has no OpenAPI document");
    co_return ServeAsset(ctx, *a, "no-cache");
  });
}

std::vector<std::string> RouteSpecDrift(
    const std::vector<std::pair<std::string, std::string>>& routes, std::string_view openapi_json) {
  // Paths compare with their parameter names erased: OpenAPI allows one name per template.
  auto shape = [](std::string_view path) {
    std::string out;
    bool in_param = false;
    for (char c : path) {
      if (c == '{') {
        in_param = true;
        out += "{}";
      } else if (c == '}') {
        in_param = false;
      } else if (!in_param) {
        out += c;
      }
    }
    return out;
  };
  std::set<std::string> served, described;
  for (const auto& [method, pattern] : routes) served.insert(method + " " + shape(pattern));
  const json::value doc = json::parse(openapi_json);
  static const std::set<std::string> kMethods = {"get",   "put",     "post", "delete",
                                                 "patch", "options", "head", "trace"};
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      std::string m(method);
      if (!kMethods.count(m)) continue;  // parameters, summary...
      for (char& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      // HEAD is served by every GET route.
      if (m == "HEAD" && served.count("GET " + shape(path))) continue;
      described.insert(m + " " + shape(path));
    }
  }
  std::vector<std::string> drift;
  for (const auto& r : served) {
    if (!described.count(r)) drift.push_back(r + " is served but not in the OpenAPI document");
  }
  for (const auto& d : described) {
    if (!served.count(d)) drift.push_back(d + " is in the OpenAPI document but not served");
  }
  return drift;
}

void CheckRoutesMatchSpec(const http::Router& router) {
  const EmbeddedAsset* spec = FindEmbeddedAsset("/v1/openapi.json");
  if (!spec) throw std::logic_error("the OpenAPI document is not embedded in this build");
  std::vector<std::pair<std::string, std::string>> routes;
  for (const auto& r : router.routes()) {
    routes.emplace_back(std::string(bhttp::to_string(r.method)), r.pattern);
  }
  auto drift = RouteSpecDrift(routes, spec->body);
  if (drift.empty()) return;
  std::string all;
  for (const auto& d : drift) all += "\n  " + d;
  throw std::logic_error("routes and docs/openapi.yaml disagree:" + all);
}

}  // namespace imgd::api
