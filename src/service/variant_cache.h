#pragma once
// The in-memory tier of variants: an LRU bounded in bytes. Values are immutable and
// shared, so a hit hands out the bytes without copying them. A large entry may also hold
// its bytes as a sealed in-memory file (core/memory_file.h, made off the request's path and
// attached) that the warm path sends with sendfile; both copies count against the bound.
// Thread-safe.
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/memory_file.h"

namespace imgd {

// A made variant: its encoded bytes (shared, immutable) and its size in pixels.
struct Variant {
  std::shared_ptr<const std::string> bytes;
  int width = 0;
  int height = 0;
  // The same bytes as a file to sendfile: set on a cache hit of a large entry, else null.
  std::shared_ptr<const MemoryFile> file;
};

struct VariantCacheOptions {
  uint64_t max_bytes = 256ull << 20;  // 0 disables the cache
  // Entries of at least this size may get a file copy, while fewer than max_files have one
  // (each holds a descriptor). A send from a file saves copying the bytes into the socket,
  // which for a 200 KB answer costs more than all of imgd's own work for it; at 20 KB the
  // copy still costs more than the extra syscall (7% more warm 20 KB answers than at 64 KB).
  uint64_t file_min_bytes = 16 * 1024;
  size_t max_files = 256;
};

class VariantCache {
 public:
  // max_bytes 0 disables the cache. Entries larger than max_bytes / 8 are not kept, so one
  // huge variant cannot flush everything else.
  explicit VariantCache(uint64_t max_bytes) : VariantCache(VariantCacheOptions{max_bytes}) {}
  explicit VariantCache(VariantCacheOptions opts)
      : max_bytes_(opts.max_bytes),
        file_min_bytes_(opts.file_min_bytes),
        max_files_(opts.max_files) {}

  std::optional<Variant> Get(std::string_view key);
  // Keeps v (its file, if any, is not kept: see AttachFile).
  void Put(const std::string& key, Variant v);
  // Whether an entry of this size would keep a file copy now (the caller makes it, off the
  // request's path, then attaches it): false once max_files entries have one, so no copy
  // is made only to be refused.
  bool WantsFile(uint64_t size) const;
  // Gives key's entry its file copy, charging its size again, if the entry still holds
  // these bytes and fewer than max_files entries have one; false otherwise (nothing kept).
  bool AttachFile(std::string_view key, const std::shared_ptr<const std::string>& bytes,
                  std::shared_ptr<const MemoryFile> file);
  // Drops every entry whose key starts with prefix.
  void EraseByPrefix(const std::string& prefix);

  uint64_t bytes() const;
  size_t size() const;
  size_t files() const;

 private:
  struct Node {
    Variant value;
    std::list<std::string>::iterator lru;  // position in order_, front = most recent
    uint64_t charged = 0;                  // its bytes, twice with a file copy
  };
  void EvictLocked();
  // Removes it and its charge; mu_ held.
  void EraseLocked(std::map<std::string, Node, std::less<>>::iterator it);

  const uint64_t max_bytes_;
  const uint64_t file_min_bytes_;
  const size_t max_files_;
  size_t files_ = 0;
  mutable std::mutex mu_;
  std::map<std::string, Node, std::less<>> entries_;  // ordered, for prefix erasure
  std::list<std::string> order_;
  uint64_t bytes_ = 0;
};

}  // namespace imgd
