#pragma once
// Bytes held in memory as a ByteSource: a cached variant served without a copy, a file
// read whole by the CLI.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "core/byte_source.h"

namespace imgd {

class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::shared_ptr<const std::string> bytes) : bytes_(std::move(bytes)) {}
  explicit MemorySource(std::string bytes)
      : bytes_(std::make_shared<const std::string>(std::move(bytes))) {}
  uint64_t size() const override { return bytes_->size(); }
  size_t ReadAt(uint64_t offset, void* buf, size_t n) override {
    if (offset >= bytes_->size()) return 0;
    n = std::min<size_t>(n, bytes_->size() - offset);
    std::memcpy(buf, bytes_->data() + offset, n);
    return n;
  }
  const char* Contiguous() const override { return bytes_->data(); }

 private:
  std::shared_ptr<const std::string> bytes_;
};

// Bytes that live as long as the process (compiled into the binary): served in place.
class StaticSource final : public ByteSource {
 public:
  explicit StaticSource(std::string_view bytes) : bytes_(bytes) {}
  uint64_t size() const override { return bytes_.size(); }
  size_t ReadAt(uint64_t offset, void* buf, size_t n) override {
    if (offset >= bytes_.size()) return 0;
    n = std::min<size_t>(n, bytes_.size() - offset);
    std::memcpy(buf, bytes_.data() + offset, n);
    return n;
  }
  const char* Contiguous() const override { return bytes_.data(); }

 private:
  std::string_view bytes_;
};

}  // namespace imgd
