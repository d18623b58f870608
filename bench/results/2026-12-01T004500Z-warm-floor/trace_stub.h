#pragma once
#include <string>
namespace imgd {
struct TraceContext {
  std::string a, b;
};
inline thread_local const TraceContext* cur;
struct TraceScope {
  const TraceContext* prev;
  explicit TraceScope(const TraceContext* t) : prev(cur) { cur = t; }
  ~TraceScope() { cur = prev; }
};
}  // namespace imgd
