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
  if (max_bytes_ == 0 || !v.bytes || size > max_bytes_ / 8) return;
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(key); it != entries_.end()) EraseLocked(it);
  v.file = nullptr;
  order_.push_front(key);
  entries_.emplace(key, Node{std::move(v), order_.begin(), size});
  bytes_ += size;
  EvictLocked();
}

bool VariantCache::WantsFile(uint64_t size) const {
  if (max_bytes_ == 0 || size < file_min_bytes_) return false;
  std::lock_guard lock(mu_);
  return files_ < max_files_;
}

bool VariantCache::AttachFile(std::string_view key, const std::shared_ptr<const std::string>& bytes,
                              std::shared_ptr<const MemoryFile> file) {
  if (!file) return false;
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.value.bytes != bytes || it->second.value.file ||
      files_ >= max_files_) {
    return false;
  }
  it->second.value.file = std::move(file);
  ++files_;
  it->second.charged += bytes->size();
  bytes_ += bytes->size();
  EvictLocked();
  return true;
}

void VariantCache::EraseLocked(std::map<std::string, Node, std::less<>>::iterator it) {
  bytes_ -= it->second.charged;
  if (it->second.value.file) --files_;
  order_.erase(it->second.lru);
  entries_.erase(it);
}

void VariantCache::EraseByPrefix(const std::string& prefix) {
  std::lock_guard lock(mu_);
  auto it = entries_.lower_bound(prefix);
  while (it != entries_.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
    EraseLocked(it++);
  }
}

void VariantCache::EvictLocked() {
  while (bytes_ > max_bytes_ && !order_.empty()) EraseLocked(entries_.find(order_.back()));
}

uint64_t VariantCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

size_t VariantCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

size_t VariantCache::files() const {
  std::lock_guard lock(mu_);
  return files_;
}

}  // namespace imgd
