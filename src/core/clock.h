#pragma once
#include <cstdint>
#include <string>

namespace imgd {

// Milliseconds since the Unix epoch (system clock).
int64_t NowMs();
// RFC 3339 UTC with milliseconds: 2026-11-25T07:39:33.123Z
std::string FormatIsoMs(int64_t ms);
// The same, appended to out.
void AppendIsoMs(std::string& out, int64_t ms);

}  // namespace imgd
