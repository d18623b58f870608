// The check that keeps the router and docs/openapi.yaml in step (imgd refuses to start when
// they disagree): what it reports, and that this build's own document passes it.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/embedded_assets.h"
#include "api/routes.h"

namespace imgd::api {
namespace {

const char* kSpec = R"({"openapi": "3.1.0", "paths": {
  "/v1/images/{imageId}": {"parameters": [], "get": {}, "delete": {}},
  "/v1/uploads/{upload}": {"put": {}, "head": {}, "summary": "x"},
  "/healthz": {"get": {}}}})";

TEST(RouteSpecDrift, AgreesWhenShapesMatchWhateverTheParameterNames) {
  std::vector<std::pair<std::string, std::string>> routes = {
      {"GET", "/v1/images/{id}"},
      {"DELETE", "/v1/images/{imageId}"},
      {"PUT", "/v1/uploads/{token}"},
      {"GET", "/v1/uploads/{uploadId}"},  // HEAD in the document is served by GET
      {"GET", "/healthz"}};
  // GET /v1/uploads/{} is served but described only as HEAD: reported, nothing else.
  auto drift = RouteSpecDrift(routes, kSpec);
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0], "GET /v1/uploads/{} is served but not in the OpenAPI document");
}

TEST(RouteSpecDrift, ReportsBothDirections) {
  std::vector<std::pair<std::string, std::string>> routes = {
      {"GET", "/v1/images/{imageId}"}, {"POST", "/v1/secret"}, {"GET", "/healthz"}};
  auto drift = RouteSpecDrift(routes, kSpec);
  std::vector<std::string> want = {"POST /v1/secret is served but not in the OpenAPI document",
                                   "DELETE /v1/images/{} is in the OpenAPI document but not served",
                                   "HEAD /v1/uploads/{} is in the OpenAPI document but not served",
                                   "PUT /v1/uploads/{} is in the OpenAPI document but not served"};
  EXPECT_EQ(drift, want);
}

TEST(RouteSpecDrift, ThisBuildEmbedsAValidDocumentAndTheConsole) {
  const EmbeddedAsset* spec = FindEmbeddedAsset("/v1/openapi.json");
  ASSERT_NE(spec, nullptr);
  auto doc = boost::json::parse(spec->body).as_object();
  EXPECT_EQ(doc.at("openapi").as_string(), "3.1.0");
  EXPECT_GE(doc.at("paths").as_object().size(), 15u);
  const EmbeddedAsset* page = FindEmbeddedAsset("/");
  ASSERT_NE(page, nullptr);
  EXPECT_NE(page->body.find("/assets/"), std::string_view::npos);
  EXPECT_FALSE(page->gzip_body.empty());
}

TEST(ConsoleContentSecurityPolicy, AllowsOnlyOwnCodeAndThePublicOrigin) {
  std::string csp = ConsoleContentSecurityPolicy("https://img.example.com/base");
  EXPECT_NE(csp.find("script-src 'self';"), std::string::npos);
  EXPECT_NE(csp.find("img-src 'self' blob: data: https://img.example.com;"), std::string::npos);
  EXPECT_NE(csp.find("connect-src 'self' https://img.example.com;"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe"), std::string::npos);
}

}  // namespace
}  // namespace imgd::api
