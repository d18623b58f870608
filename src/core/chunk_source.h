#pragma once
// A body arriving in pieces (an HTTP request body, a multipart file part, a fetched URL).
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <functional>
#include <span>

namespace imgd {

class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // The next piece; an empty span at the end. The span stays valid until the next call.
  // Throws Error (e.g. 413) or std::runtime_error when the body cannot be read.
  virtual boost::asio::awaitable<std::span<const char>> Next() = 0;
};

// Another source's pieces, each reported to on_piece (its size) before it is handed on;
// on_piece may throw to stop the body (a byte budget spent).
class TappedSource final : public ChunkSource {
 public:
  TappedSource(ChunkSource& inner, std::function<void(size_t)> on_piece)
      : inner_(inner), on_piece_(std::move(on_piece)) {}
  boost::asio::awaitable<std::span<const char>> Next() override {
    std::span<const char> piece = co_await inner_.Next();
    if (on_piece_ && !piece.empty()) on_piece_(piece.size());
    co_return piece;
  }

 private:
  ChunkSource& inner_;
  std::function<void(size_t)> on_piece_;
};

}  // namespace imgd
