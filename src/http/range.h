#pragma once
// HTTP Range (RFC 9110 §14): one byte range. Several ranges or invalid syntax are treated as
// no Range at all (a full 200 answer is allowed by the RFC).
#include <cstdint>
#include <string_view>

namespace imgd::http {

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

enum class RangeResult { kNone, kSatisfiable, kUnsatisfiable };

RangeResult ParseRange(std::string_view header, uint64_t size, ByteRange& out);

}  // namespace imgd::http
