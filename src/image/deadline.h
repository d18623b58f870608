#pragma once
// A point in time after which long-running image work gives up (transform time limit).
#include <chrono>

namespace imgd {

struct Deadline {
  std::chrono::steady_clock::time_point at = std::chrono::steady_clock::time_point::max();
  bool Passed() const { return std::chrono::steady_clock::now() >= at; }
  static Deadline In(std::chrono::milliseconds d) {
    return Deadline{std::chrono::steady_clock::now() + d};
  }
};

}  // namespace imgd
