#pragma once
// A body arriving in pieces (an HTTP request body, a multipart file part, a fetched URL).
#include <boost/asio/awaitable.hpp>
#include <span>

namespace imgd {

class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // The next piece; an empty span at the end. The span stays valid until the next call.
  // Throws ApiError (e.g. 413) or std::runtime_error when the body cannot be read.
  virtual boost::asio::awaitable<std::span<const char>> Next() = 0;
};

}  // namespace imgd
