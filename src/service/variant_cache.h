#pragma once
// The in-memory tier of variants: an LRU bounded in bytes. Values are immutable and
// shared, so a hit hands out the bytes without copying them. Thread-safe.
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace imgd {

// A made variant: its JPEG bytes (shared, immutable) and its size in pixels.
struct Variant {
  std::shared_ptr<const std::string> bytes;
  int width = 0;
  int height = 0;
};

class VariantCache {
 public:
  // max_bytes 0 disables the cache. Entries larger than max_bytes / 8 are not kept, so one
  // huge variant cannot flush everything else.
  explicit VariantCache(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  std::optional<Variant> Get(std::string_view key);
  void Put(const std::string& key, Variant v);
  // Drops every entry whose key starts with prefix.
  void EraseByPrefix(const std::string& prefix);

  uint64_t bytes() const;
  size_t size() const;

 private:
  struct Node {
    Variant value;
    std::list<std::string>::iterator lru;  // position in order_, front = most recent
  };
  void EvictLocked();

  const uint64_t max_bytes_;
  mutable std::mutex mu_;
  std::map<std::string, Node, std::less<>> entries_;  // ordered, for prefix erasure
  std::list<std::string> order_;
  uint64_t bytes_ = 0;
};

}  // namespace imgd
