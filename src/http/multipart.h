#pragma once
// Streaming multipart/form-data parser (RFC 7578): bytes go in as they arrive, part data
// comes out through callbacks without buffering whole parts. Boundaries split across
// Feed calls are handled by keeping a tail shorter than the delimiter.
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace imgd::http {

struct PartInfo {
  std::string name;      // form field name
  std::string filename;  // empty when none was given
  std::string content_type;
};

class MultipartParser {
 public:
  struct Callbacks {
    std::function<void(const PartInfo&)> on_part_begin;
    std::function<void(std::span<const char>)> on_part_data;
    std::function<void()> on_part_end;
  };

  MultipartParser(std::string boundary, Callbacks cb);
  // Throws Error 400 on malformed input.
  void Feed(std::span<const char> data);
  // True once the closing delimiter was seen.
  bool done() const { return state_ == State::kEpilogue; }

 private:
  enum class State { kPreamble, kAfterDelimiter, kHeaders, kBody, kEpilogue };
  void Process();
  void ParseHeaders(std::string_view block);

  std::string delimiter_;  // "\r\n--" + boundary
  Callbacks cb_;
  State state_ = State::kPreamble;
  std::string buf_;
  size_t preamble_seen_ = 0;
};

// The boundary parameter of a multipart/form-data Content-Type, or nullopt.
std::optional<std::string> MultipartBoundary(std::string_view content_type);

}  // namespace imgd::http
