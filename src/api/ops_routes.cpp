// Operations: liveness, readiness (each store on its own) and Prometheus metrics.
#include <boost/json.hpp>

#include "api/common.h"
#include "api/routes.h"
#include "core/errors.h"
#include "obs/log.h"

namespace imgd::api {

void RegisterOpsRoutes(http::Router& router, std::shared_ptr<ApiDeps> deps) {
  router.Add(bhttp::verb::get, "/healthz", [](RequestContext&) -> awaitable<Response> {
    co_return http::Json(bhttp::status::ok, {{"status", "ok"}});
  });

  router.Add(bhttp::verb::get, "/readyz", [deps](RequestContext&) -> awaitable<Response> {
    // Each store on its own, so an operator sees which one is down.
    json::object stores;
    std::vector<const char*> failed;
    co_await Offload(deps->pools.blocking, [&] {
      for (const auto& [name, ping] : deps->readiness_checks) {
        try {
          ping();
          stores[name] = "ok";
        } catch (const std::exception& e) {
          // The text may hold hosts, paths or credentials: the log has it, the client not.
          stores[name] = "unavailable";
          failed.push_back(name);
          LogJson("error", "readiness check failed", {{"store", name}, {"error", e.what()}});
        }
      }
    });
    if (!failed.empty()) {
      std::string which;
      for (const char* name : failed) which += (which.empty() ? "" : ", ") + std::string(name);
      Error e(ErrorCode::kUnavailable, "unavailable", "a store is not reachable: " + which,
              {{"stores", stores}});
      e.retry_after = 5;
      throw e;
    }
    co_return http::Json(bhttp::status::ok, {{"status", "ready"}, {"stores", stores}});
  });

  router.Add(bhttp::verb::get, "/metrics", [deps](RequestContext&) -> awaitable<Response> {
    Response r;
    r.headers.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    r.body = deps->metrics.Render();
    co_return r;
  });
}

}  // namespace imgd::api
