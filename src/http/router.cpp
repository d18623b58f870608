#include "http/router.h"

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

// Literal segments are compared first, so a route that does not match costs no allocation.
bool MatchSegments(const Route& r, const std::vector<std::string>& segs,
                   std::unordered_map<std::string, std::string>& params) {
  if (r.segments.size() != segs.size()) return false;
  for (size_t i = 0; i < segs.size(); ++i) {
    if (!IsParam(r.segments[i]) && r.segments[i] != segs[i]) return false;
  }
  params.clear();
  for (size_t i = 0; i < segs.size(); ++i) {
    const std::string& p = r.segments[i];
    if (IsParam(p)) params[p.substr(1, p.size() - 2)] = segs[i];
  }
  return true;
}

}  // namespace

Router::Match Router::Find(bhttp::verb method, const std::string& path) const {
  Match m;
  auto segs = SplitPath(path);
  // A trailing slash or an empty segment ("//") names a different resource; keep paths exact.
  if (path.size() > 1 && path.back() == '/') return m;
  if (path.find("//") != std::string::npos) return m;
  for (const auto& r : routes_) {
    std::unordered_map<std::string, std::string> params;
    if (!MatchSegments(r, segs, params)) continue;
    bool head_ok = method == bhttp::verb::head && r.method == bhttp::verb::get;
    if (r.method == method || head_ok) {
      m.route = &r;
      m.params = std::move(params);
      m.head_via_get = head_ok;
      m.allowed.clear();
      return m;
    }
    m.allowed.push_back(r.method);
  }
  return m;
}

}  // namespace imgd::http
