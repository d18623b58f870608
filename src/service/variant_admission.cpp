#include "service/variant_admission.h"

#include <functional>

namespace imgd {

bool VariantAdmission::ShouldStore(const std::string& key_text, bool preset) {
  if (preset) return true;
  const uint64_t key = std::hash<std::string>{}(key_text);
  std::lock_guard lock(mu_);
  if (seen_once_.erase(key) > 0) return true;  // made before: a size people ask for again
  while (seen_once_.size() >= capacity_ && !order_.empty()) {
    seen_once_.erase(order_.front());
    order_.pop_front();
  }
  if (order_.size() >= 2 * capacity_) {  // drop stale order entries of keys already erased
    std::deque<uint64_t> kept;
    for (uint64_t k : order_) {
      if (seen_once_.count(k)) kept.push_back(k);
    }
    order_.swap(kept);
  }
  seen_once_.insert(key);
  order_.push_back(key);
  return false;
}

}  // namespace imgd
