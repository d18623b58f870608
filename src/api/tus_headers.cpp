#include "api/tus_headers.h"

#include <charconv>

#include "api/common.h"
#include "core/errors.h"
#include "core/ids.h"

namespace imgd::api {

TusMetadata ParseTusMetadata(std::string_view header) {
  TusMetadata meta;
  std::string_view rest = header;
  std::optional<std::string> filename;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    size_t space = item.find(' ');
    std::string key(item.substr(0, space));
    std::string value;
    if (space != std::string_view::npos) {
      std::string_view enc = item.substr(space + 1);
      // Standard base64 (tus); accept the URL-safe alphabet too.
      std::string url(enc);
      for (char& c : url) c = c == '+' ? '-' : c == '/' ? '_' : c;
      while (!url.empty() && url.back() == '=') url.pop_back();
      if (!Base64UrlDecode(url, value)) {
        throw BadParameter("Upload-Metadata",
                           "Upload-Metadata value of '" + key + "' is not base64");
      }
    }
    if (key == "imageName") meta.name = CheckText(value, "imageName", kMaxName, false);
    if (key == "imageDescription") {
      meta.description = CheckText(value, "imageDescription", kMaxDescription, true);
    }
    if (key == "filename") filename = value;
    if (key == "visibility") meta.visibility = CheckVisibility(value);
  }
  if (meta.name.empty() && filename) meta.name = CheckText(*filename, "filename", kMaxName, false);
  return meta;
}

std::optional<uint64_t> ParseHeaderNumber(std::string_view v) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return n;
}

}  // namespace imgd::api
