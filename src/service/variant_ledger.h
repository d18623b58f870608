#pragma once
// The stored variants this node knows of, with their sizes and last use, so the variants/
// namespace stays within its bounds: at most `per_original_count` variants and
// `per_original_bytes` bytes of any one original, and `total_bytes` in all. Recording a
// variant that passes a bound names the least recently used variants to remove (of that
// original for the per-original bounds, of all for the total).
//
// A node learns of variants it stores, variants it reads from the store, and everything
// under variants/ when Load runs (at start and on every sweep), so variants stored by
// other nodes sharing the store are counted within a sweep interval. Pure bookkeeping, no
// I/O; thread-safe. About 200 bytes per variant.
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace imgd {

struct VariantBounds {
  int per_original_count = 50;
  uint64_t per_original_bytes = 64ull << 20;
  uint64_t total_bytes = 20ull << 30;  // 0 = no global bound
};

class VariantLedger {
 public:
  explicit VariantLedger(VariantBounds bounds) : bounds_(bounds) {}

  // A variant of `bytes` now stored under key (or read from the store: a use). Returns the
  // keys to remove from the store to get back within the bounds (never `key` itself unless
  // it alone passes a bound).
  std::vector<std::string> Record(const std::string& key, uint64_t bytes);
  // Forgets every variant of an original (its bytes are gone).
  void ForgetOriginal(const std::string& sha256);
  // Replaces what is known with a listing of the store: (key, bytes, modified_ms), oldest
  // modified counted least recently used. Returns the keys to remove, as Record does.
  struct Listed {
    std::string key;
    uint64_t bytes;
    int64_t modified_ms;
  };
  std::vector<std::string> Load(std::vector<Listed> listing);

  uint64_t total_bytes() const;
  size_t size() const;

 private:
  struct Entry {
    std::string key;
    std::string original;
    uint64_t bytes;
  };
  struct Usage {
    int count = 0;
    uint64_t bytes = 0;
  };
  using Lru = std::list<Entry>;  // most recently used first

  void InsertLocked(const std::string& key, uint64_t bytes);
  void EraseLocked(Lru::iterator it);
  void EvictLocked(const std::string& original, std::vector<std::string>& out);

  const VariantBounds bounds_;
  mutable std::mutex mu_;
  Lru lru_;
  std::unordered_map<std::string, Lru::iterator> by_key_;
  std::unordered_map<std::string, Usage> by_original_;
  uint64_t total_ = 0;
};

}  // namespace imgd
