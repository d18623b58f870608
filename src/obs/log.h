#pragma once
// Structured logs: one JSON object per line on stderr.
#include <boost/json/object.hpp>
#include <string>

namespace imgd {

// Writes {"time":..., "level":..., "msg":..., ...fields} as one line. Thread-safe.
void LogJson(const std::string& level, const std::string& msg, boost::json::object fields = {});
// Writes out queued lines; call once before exiting.
void FlushLogs();

}  // namespace imgd
