#include "service/variant_cache.h"

namespace imgd {

std::optional<Variant> VariantCache::Get(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  order_.splice(order_.begin(), order_, it->second.lru);
  return it->second.value;
}

void VariantCache::Put(const std::string& key, Variant v) {
  const uint64_t size = v.bytes ? v.bytes->size() : 0;
  if (max_bytes_ == 0 || size > max_bytes_ / 8) return;
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    bytes_ -= it->second.value.bytes->size();
    it->second.value = std::move(v);
    order_.splice(order_.begin(), order_, it->second.lru);
  } else {
    order_.push_front(key);
    entries_.emplace(key, Node{std::move(v), order_.begin()});
  }
  bytes_ += size;
  EvictLocked();
}

void VariantCache::EraseByPrefix(const std::string& prefix) {
  std::lock_guard lock(mu_);
  auto it = entries_.lower_bound(prefix);
  while (it != entries_.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
    bytes_ -= it->second.value.bytes->size();
    order_.erase(it->second.lru);
    it = entries_.erase(it);
  }
}

void VariantCache::EvictLocked() {
  while (bytes_ > max_bytes_ && !order_.empty()) {
    auto it = entries_.find(order_.back());
    bytes_ -= it->second.value.bytes->size();
    entries_.erase(it);
    order_.pop_back();
  }
}

uint64_t VariantCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

size_t VariantCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace imgd
