#pragma once
// Method + path-pattern routing ("/v1/images/{imageId}/content"). Patterns are matched
// segment by segment; "{name}" captures one non-empty segment.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/fast_lane.h"
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

  // The warm lane in front of the routes (fast_lane.h); null when none was set.
  void SetFastLane(std::unique_ptr<FastLane> lane) { fast_lane_ = std::move(lane); }
  const FastLane* fast_lane() const { return fast_lane_.get(); }

 private:
  std::vector<Route> routes_;
  std::unique_ptr<FastLane> fast_lane_;
};

std::vector<std::string> SplitPath(const std::string& path);

}  // namespace imgd::http
