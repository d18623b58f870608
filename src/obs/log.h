#pragma once
// Structured logs: one JSON object per line on stderr.
#include <boost/json/object.hpp>
#include <string>
#include <string_view>

namespace imgd {

// Writes {"time":..., "level":..., "msg":..., ...fields} as one line. Thread-safe.
void LogJson(const std::string& level, const std::string& msg, boost::json::object fields = {});
// Writes a line already formatted as one JSON object (the access log builds its own).
void LogRawJson(std::string_view line, bool urgent = false);
// Appends s to out as a JSON string literal (quoted, escaped).
void AppendJsonString(std::string& out, std::string_view s);
// Writes out queued lines; call once before exiting.
void FlushLogs();

}  // namespace imgd
