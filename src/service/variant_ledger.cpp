#include "service/variant_ledger.h"

#include <algorithm>

#include "core/types.h"

namespace imgd {

void VariantLedger::InsertLocked(const std::string& key, uint64_t bytes) {
  auto found = by_key_.find(key);
  if (found != by_key_.end()) {  // a use: move to the front, size may have changed
    Entry& e = *found->second;
    Usage& u = by_original_[e.original];
    u.bytes = u.bytes - e.bytes + bytes;
    total_ = total_ - e.bytes + bytes;
    e.bytes = bytes;
    lru_.splice(lru_.begin(), lru_, found->second);
    return;
  }
  lru_.push_front(Entry{key, VariantOriginal(key), bytes});
  by_key_[key] = lru_.begin();
  Usage& u = by_original_[lru_.front().original];
  u.count += 1;
  u.bytes += bytes;
  total_ += bytes;
}

void VariantLedger::EraseLocked(Lru::iterator it) {
  auto u = by_original_.find(it->original);
  if (u != by_original_.end()) {
    u->second.count -= 1;
    u->second.bytes -= it->bytes;
    if (u->second.count <= 0) by_original_.erase(u);
  }
  total_ -= it->bytes;
  by_key_.erase(it->key);
  lru_.erase(it);
}

void VariantLedger::EvictLocked(const std::string& original, std::vector<std::string>& out) {
  // This original's own bounds: its least recently used variants go first. Walking from
  // the back meets them oldest first.
  auto over = [&] {
    auto u = by_original_.find(original);
    return u != by_original_.end() && (u->second.count > bounds_.per_original_count ||
                                       u->second.bytes > bounds_.per_original_bytes);
  };
  for (auto it = lru_.end(); over() && it != lru_.begin();) {
    --it;
    if (it->original != original) continue;
    out.push_back(it->key);
    auto doomed = it;
    it = std::next(it);  // the element after doomed stays valid
    EraseLocked(doomed);
  }
  while (bounds_.total_bytes > 0 && total_ > bounds_.total_bytes && !lru_.empty()) {
    out.push_back(lru_.back().key);
    EraseLocked(std::prev(lru_.end()));
  }
}

std::vector<std::string> VariantLedger::Record(const std::string& key, uint64_t bytes) {
  std::vector<std::string> evicted;
  std::lock_guard lock(mu_);
  InsertLocked(key, bytes);
  EvictLocked(VariantOriginal(key), evicted);
  return evicted;
}

void VariantLedger::ForgetOriginal(const std::string& sha256) {
  std::lock_guard lock(mu_);
  for (auto it = lru_.begin(); it != lru_.end();) {
    auto next = std::next(it);
    if (it->original == sha256) EraseLocked(it);
    it = next;
  }
}

std::vector<std::string> VariantLedger::Load(std::vector<Listed> listing) {
  std::sort(listing.begin(), listing.end(),
            [](const Listed& a, const Listed& b) { return a.modified_ms < b.modified_ms; });
  std::vector<std::string> evicted;
  std::lock_guard lock(mu_);
  // What this node used since the last load stays ahead of what it only sees listed.
  Lru used;
  used.splice(used.begin(), lru_);
  by_key_.clear();
  by_original_.clear();
  total_ = 0;
  for (const Listed& l : listing) {
    if (VariantOriginal(l.key).empty()) continue;
    InsertLocked(l.key, l.bytes);
  }
  for (auto it = used.rbegin(); it != used.rend(); ++it) {
    if (by_key_.count(it->key)) InsertLocked(it->key, it->bytes);  // still stored: a use
  }
  std::vector<std::string> originals;
  for (const auto& [original, usage] : by_original_) originals.push_back(original);
  for (const auto& original : originals) EvictLocked(original, evicted);
  return evicted;
}

uint64_t VariantLedger::total_bytes() const {
  std::lock_guard lock(mu_);
  return total_;
}

size_t VariantLedger::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace imgd
