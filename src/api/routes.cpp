// The API's routes, one file per resource: ops_routes (health, readiness, metrics),
// user_routes, image_routes, content_routes (delivery), upload_routes (pre-signed PUT and
// tus). Here: the API-key check every authenticated route shares.
#include "api/routes.h"

#include "api/common.h"
#include "core/errors.h"

namespace imgd::api {

void RegisterRoutes(http::Router& router, ApiDeps d) {
  auto deps = std::make_shared<ApiDeps>(std::move(d));

  AuthFn auth = [deps](RequestContext& ctx) -> awaitable<User> {
    User u = co_await deps->users.Authenticate(ctx.Header(bhttp::field::authorization));
    ctx.user_id = u.id;
    // The operator's admin key is not limited (it manages users, it is not a client).
    if (deps->key_requests && !u.is_admin) {
      RateDecision d = deps->key_requests->Take(u.id);
      if (!d.allowed) {
        deps->metrics.Inc("imgd_rate_limited_total", {{"limit", "key_requests"}});
        throw TooManyRequests("too many requests with this API key", d.retry_after_s, d.limit,
                              d.remaining, d.reset_s);
      }
    }
    co_return u;
  };
  RegisterOpsRoutes(router, deps);
  RegisterUserRoutes(router, deps, auth);
  RegisterImageRoutes(router, deps, auth);
  RegisterContentRoutes(router, deps, auth);
  RegisterUploadRoutes(router, deps, auth);
  RegisterConsoleRoutes(router, deps);
  CheckRoutesMatchSpec(router);
  deps->metrics.AddCallback("imgd_uploads_in_progress", [counter = deps->uploads_in_flight] {
    return static_cast<double>(counter->load());
  });
}

}  // namespace imgd::api
