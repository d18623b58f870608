#pragma once
// Finished spans and where they go. The server records one SERVER span per request, the
// store call timers one CLIENT span per store call, both for sampled traces only and only
// while an exporter is installed (the OTLP exporter, when --otlp-endpoint is set).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/trace.h"

namespace imgd {

struct Span {
  enum class Kind { kServer = 2, kClient = 3 };  // OTLP SpanKind numbers
  std::string trace_id, span_id, parent_id;      // parent_id empty for a root span
  std::string name;
  Kind kind = Kind::kServer;
  int64_t start_unix_ns = 0, end_unix_ns = 0;
  bool error = false;
  std::vector<std::pair<std::string, std::string>> text_attributes;
  std::vector<std::pair<std::string, int64_t>> int_attributes;
};

class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  // Takes a finished span; must not block (called on network and pool threads).
  virtual void Export(Span span) = 0;
};

// Installs the process's exporter (null: none). The exporter must outlive its installation.
void SetSpanExporter(SpanExporter* exporter);
// True when spans of trace t are recorded: t is sampled and an exporter is installed.
bool Recording(const TraceContext* t);
// Hands span to the installed exporter, if any.
void ExportSpan(Span span);
// Now, as Unix nanoseconds (span timestamps).
int64_t UnixNanos();

}  // namespace imgd
