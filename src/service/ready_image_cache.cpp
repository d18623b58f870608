#include "service/ready_image_cache.h"

namespace imgd {

ReadyImageCache::ReadyImageCache(std::chrono::milliseconds ttl, size_t capacity)
    : ttl_(ttl), capacity_(capacity) {}

std::shared_ptr<const Image> ReadyImageCache::Get(std::string_view id) {
  if (ttl_.count() <= 0) return nullptr;
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return nullptr;
  if (Clock::now() >= it->second.expires) {
    order_.erase(it->second.order);
    entries_.erase(it);
    return nullptr;
  }
  return it->second.image;
}

void ReadyImageCache::Put(const Image& image) {
  if (ttl_.count() <= 0 || capacity_ == 0 || image.status != kStatusReady) return;
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(image.id); it != entries_.end()) {
    order_.erase(it->second.order);
    entries_.erase(it);
  }
  while (entries_.size() >= capacity_) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  order_.push_back(image.id);
  entries_.emplace(image.id, Entry{std::make_shared<const Image>(image), Clock::now() + ttl_,
                                   std::prev(order_.end())});
}

void ReadyImageCache::Erase(const std::string& id) {
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(id); it != entries_.end()) {
    order_.erase(it->second.order);
    entries_.erase(it);
  }
}

size_t ReadyImageCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace imgd
