#pragma once
// Bytes copied into an anonymous in-memory file (memfd), sealed against any change: what a
// socket can be handed with sendfile(2), so the kernel sends the file's pages instead of
// copying the bytes out of user memory first (as nginx sends files from the page cache).
// Large cached variants keep one (VariantCache); a 200 KB answer then costs no copy on send.
#include <cstdint>
#include <memory>
#include <string_view>

namespace imgd {

class MemoryFile {
 public:
  // A sealed copy of bytes; null when the system refuses (no memfd support, out of
  // descriptors or memory): callers then send from memory as before.
  static std::shared_ptr<const MemoryFile> Create(std::string_view bytes);
  ~MemoryFile();
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  int fd() const { return fd_; }
  uint64_t size() const { return size_; }

 private:
  MemoryFile(int fd, uint64_t size) : fd_(fd), size_(size) {}
  const int fd_;
  const uint64_t size_;
};

}  // namespace imgd
