#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace imgd {

// steady_clock's time as of the kernel's last tick (CLOCK_MONOTONIC_COARSE): at most a tick
// (a few ms) behind steady_clock::now(), for a fraction of its cost. For deadlines of a
// second or more, set on every request.
std::chrono::steady_clock::time_point CoarseSteadyNow();
// Milliseconds since the Unix epoch (system clock).
int64_t NowMs();
// RFC 3339 UTC with milliseconds: 2026-11-25T07:39:33.123Z
std::string FormatIsoMs(int64_t ms);
// The same, appended to out.
void AppendIsoMs(std::string& out, int64_t ms);

}  // namespace imgd
