#pragma once
// Serialises, within this process, "publish bytes + add reference" against "drop last
// reference + remove bytes" for the same blob, so a delete can never remove bytes that a
// concurrent upload of the same content has just referenced. (Duplicate detection itself
// is enforced by the database.)
#include <array>
#include <mutex>
#include <string>

namespace imgd {

class BlobLocks {
 public:
  std::mutex& For(const std::string& sha256) {
    size_t h = std::hash<std::string>{}(sha256);
    return stripes_[h % stripes_.size()];
  }

 private:
  std::array<std::mutex, 64> stripes_;
};

}  // namespace imgd
