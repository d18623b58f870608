#pragma once
// Files compiled into the binary (cmake/embed_assets.py writes the table at build time):
// the web console's page and assets, and the OpenAPI document.
#include <span>
#include <string_view>

namespace imgd::api {

struct EmbeddedAsset {
  std::string_view url;           // "/", "/assets/index-3f9a.js", "/v1/openapi.json"
  std::string_view content_type;  // with charset for text
  std::string_view body;
  std::string_view gzip_body;  // empty when compression would not make it smaller
  std::string_view etag;       // strong, quoted
};

std::span<const EmbeddedAsset> EmbeddedAssets();

// The asset at url, or null.
const EmbeddedAsset* FindEmbeddedAsset(std::string_view url);

}  // namespace imgd::api
