#pragma once
// Ready image records kept in memory for the content path, so a warm read (a cached
// variant, a 304) needs no database round trip and no thread hop.
//
// What is cached never changes for an id: a ready image's content hash. Only its deletion
// does, so an entry lives for `ttl` at most: a delete on this node drops it at once, a delete
// on another node shows here within ttl (reads are eventually consistent, as designed).
// Pending images are never cached. Thread-safe.
#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/types.h"

namespace imgd {

class ReadyImageCache {
 public:
  // ttl zero turns the cache off; at most `capacity` records are kept (oldest go first).
  ReadyImageCache(std::chrono::milliseconds ttl, size_t capacity);

  // The record if cached and younger than ttl (shared and immutable: a hit copies nothing);
  // null otherwise.
  std::shared_ptr<const Image> Get(std::string_view id);
  // Caches a ready image (others are ignored).
  void Put(const Image& image);
  void Erase(const std::string& id);
  size_t size() const;

 private:
  using Clock = std::chrono::steady_clock;
  // Lookups by string_view, with no temporary key.
  struct Hash : std::hash<std::string_view> {
    using is_transparent = void;
  };
  struct Entry {
    std::shared_ptr<const Image> image;
    Clock::time_point expires;
    std::list<std::string>::iterator order;
  };
  const std::chrono::milliseconds ttl_;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries_;
  std::list<std::string> order_;  // insertion order, oldest first
};

}  // namespace imgd
