#pragma once
// Random-access read of stored bytes (a staged upload, a blob). Implementations are
// blocking: call them from a blocking pool, never from a network thread.
#include <cstddef>
#include <cstdint>

namespace imgd {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Reads up to n bytes starting at offset into buf. Returns the count read; fewer than n
  // only at the end. Throws StoreError on I/O failure.
  virtual size_t ReadAt(uint64_t offset, void* buf, size_t n) = 0;
  // All size() bytes when they are already in memory (never blocks), else nullptr. Lets the
  // server send them straight from there, without a copy or a hop to the blocking pool.
  virtual const char* Contiguous() const { return nullptr; }
};

}  // namespace imgd
