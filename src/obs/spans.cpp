#include "obs/spans.h"

#include <atomic>
#include <chrono>

namespace imgd {
namespace {
std::atomic<SpanExporter*> g_exporter{nullptr};
}  // namespace

void SetSpanExporter(SpanExporter* exporter) { g_exporter.store(exporter); }

bool Recording(const TraceContext* t) {
  return t && t->sampled && g_exporter.load(std::memory_order_relaxed);
}

void ExportSpan(Span span) {
  if (SpanExporter* e = g_exporter.load(std::memory_order_acquire)) e->Export(std::move(span));
}

int64_t UnixNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace imgd
