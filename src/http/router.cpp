#include "http/router.h"

#include <array>
#include <string_view>

namespace imgd::http {

namespace bhttp = boost::beast::http;

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

void Router::Add(bhttp::verb method, const std::string& pattern, Handler handler) {
  routes_.push_back(Route{method, pattern, SplitPath(pattern), std::move(handler)});
}

namespace {

bool IsParam(const std::string& p) { return p.size() > 2 && p.front() == '{' && p.back() == '}'; }

// A request path's segments, without allocating: no route has more than kMaxSegments.
constexpr size_t kMaxSegments = 16;
struct PathSegments {
  std::array<std::string_view, kMaxSegments> seg;
  size_t n = 0;
  bool too_many = false;
};

PathSegments SplitRequestPath(std::string_view path) {
  PathSegments out;
  for (size_t i = 0; i < path.size();) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (out.n == kMaxSegments) {
      out.too_many = true;
      return out;
    }
    out.seg[out.n++] = path.substr(i, j - i);
    i = j;
  }
  return out;
}

// Literal segments are compared first, so a route that does not match costs no allocation.
bool MatchSegments(const Route& r, const PathSegments& segs) {
  if (segs.too_many || r.segments.size() != segs.n) return false;
  for (size_t i = 0; i < segs.n; ++i) {
    if (!IsParam(r.segments[i]) && r.segments[i] != segs.seg[i]) return false;
  }
  return true;
}

}  // namespace

Router::Match Router::Find(bhttp::verb method, const std::string& path) const {
  Match m;
  // A trailing slash or an empty segment ("//") names a different resource; keep paths exact.
  if (path.size() > 1 && path.back() == '/') return m;
  if (path.find("//") != std::string::npos) return m;
  const PathSegments segs = SplitRequestPath(path);
  for (const auto& r : routes_) {
    if (!MatchSegments(r, segs)) continue;
    bool head_ok = method == bhttp::verb::head && r.method == bhttp::verb::get;
    if (r.method == method || head_ok) {
      m.route = &r;
      for (size_t i = 0; i < segs.n; ++i) {
        const std::string& p = r.segments[i];
        if (IsParam(p)) m.params.emplace(p.substr(1, p.size() - 2), segs.seg[i]);
      }
      m.head_via_get = head_ok;
      m.allowed.clear();
      return m;
    }
    m.allowed.push_back(r.method);
  }
  return m;
}

}  // namespace imgd::http
