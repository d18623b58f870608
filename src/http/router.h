#pragma once
// Method + path-pattern routing ("/v1/images/{imageId}/content"). Patterns are matched
// segment by segment; "{name}" captures one non-empty segment.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/request.h"
#include "http/response.h"

namespace imgd::http {

using Handler = std::function<boost::asio::awaitable<Response>(RequestContext&)>;

struct Route {
  boost::beast::http::verb method;
  std::string pattern;  // also the route label in logs and metrics
  std::vector<std::string> segments;
  Handler handler;
};

class Router {
 public:
  void Add(boost::beast::http::verb method, const std::string& pattern, Handler handler);

  struct Match {
    const Route* route = nullptr;
    std::unordered_map<std::string, std::string> params;
    std::vector<boost::beast::http::verb> allowed;  // when only the method differs
    bool head_via_get = false;
  };
  Match Find(boost::beast::http::verb method, const std::string& path) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

std::vector<std::string> SplitPath(const std::string& path);

}  // namespace imgd::http
