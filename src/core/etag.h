#pragma once
// Entity tags (RFC 9110 §8.8.3) as conditional requests compare them.
#include <string>
#include <string_view>

namespace imgd {

// True when an If-None-Match value matches etag: weak comparison (RFC 9110 §13.1.2), a list
// of tags or "*".
bool EtagMatches(std::string_view if_none_match, const std::string& etag);

}  // namespace imgd
