#pragma once
// Which made variants are kept in the blob store. A size from the operator's allowed list
// (--allowed-sizes) is kept at once; any other size is kept the second time it has to be
// made, so a client walking through thousands of one-off sizes fills no disk (repeats of a
// size are served from the in-memory LRU, bounded by bytes, until it is evicted and made
// again: then it is kept). Remembers at most `capacity` sizes seen once, as 64-bit hashes of
// their keys (about 40 bytes each: 100,000 is ~4 MB); a hash collision only means a one-off
// size is stored. Thread-safe.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_set>

namespace imgd {

class VariantAdmission {
 public:
  explicit VariantAdmission(size_t capacity = 100000) : capacity_(capacity) {}

  // Whether the variant just made under `key` should be stored.
  bool ShouldStore(const std::string& key, bool preset);

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::unordered_set<uint64_t> seen_once_;
  std::deque<uint64_t> order_;  // oldest first, for the capacity bound
};

}  // namespace imgd
