#include "core/clock.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>

namespace imgd {

std::chrono::steady_clock::time_point CoarseSteadyNow() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatIsoMs(int64_t ms) {
  std::string out;
  AppendIsoMs(out, ms);
  return out;
}

void AppendIsoMs(std::string& out, int64_t ms) {
  // Every log line has a timestamp: the date-and-seconds part is formatted once per second
  // per thread, the milliseconds appended by hand.
  thread_local int64_t cached_secs = -1;
  thread_local std::string cached_prefix;  // "YYYY-MM-DDTHH:MM:SS."
  const int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  if (secs != cached_secs) {
    std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    cached_prefix = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.", tm.tm_year + 1900,
                                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_secs = secs;
  }
  const int milli = static_cast<int>(ms - secs * 1000);
  out += cached_prefix;
  out += static_cast<char>('0' + milli / 100);
  out += static_cast<char>('0' + milli / 10 % 10);
  out += static_cast<char>('0' + milli % 10);
  out += 'Z';
}

}  // namespace imgd
