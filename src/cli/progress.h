#pragma once
// A one-line progress bar for the CLI commands (drawn only on a terminal).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace imgd::cli {

// Draws "name  12.0/300.0 MB  4%  85.3 MB/s  ETA 3s" at most 10 times a second.
class ProgressBar {
 public:
  using Clock = std::chrono::steady_clock;
  ProgressBar(bool enabled, std::string label, uint64_t total)
      : enabled_(enabled), label_(std::move(label)), total_(total), start_(Clock::now()) {}
  void Update(uint64_t done, bool force = false) {
    if (!enabled_) return;
    auto now = Clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? static_cast<double>(done - base_) / secs : 0;
    double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
    std::fprintf(stdout, "\r%-30.30s %8.1f/%.1f MB %3d%% %7.1f MB/s ETA %4.0fs", label_.c_str(),
                 static_cast<double>(done) / 1e6, static_cast<double>(total_) / 1e6,
                 total_ ? static_cast<int>(100 * done / total_) : 100, rate / 1e6, eta);
    std::fflush(stdout);
  }
  void SetLabel(std::string label) { label_ = std::move(label); }
  // After a resume the rate counts from where it restarted.
  void Restart(uint64_t done) {
    base_ = done;
    start_ = Clock::now();
  }
  void Finish() {
    if (enabled_) std::fputs("\n", stdout);
  }

 private:
  bool enabled_;
  std::string label_;
  uint64_t total_;
  uint64_t base_ = 0;
  Clock::time_point start_, last_;
};

}  // namespace imgd::cli
