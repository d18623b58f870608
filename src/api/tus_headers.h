#pragma once
// Parsing of the tus request headers imgd reads from clients (Upload-Metadata, the numeric
// Upload-Offset / Upload-Length / Content-Length). Pure functions, fuzzed on their own.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace imgd::api {

struct TusMetadata {
  std::string name;         // imageName, else filename
  std::string description;  // imageDescription
  std::string visibility = "public";
};

// Upload-Metadata: "key base64value,key2 base64value2" (tus creation extension); standard
// or URL-safe base64 (keys imageName, imageDescription, filename, visibility). Unknown keys
// are ignored. Throws Error 400 naming Upload-Metadata
// (bad base64) or the field (text that is too long, not UTF-8, or has control characters).
TusMetadata ParseTusMetadata(std::string_view header);

// A non-negative decimal integer with nothing around it, else nullopt.
std::optional<uint64_t> ParseHeaderNumber(std::string_view v);

}  // namespace imgd::api
