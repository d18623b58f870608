// /v1/users: the admin creates users (each with an API key); a caller reads itself.
#include <boost/json.hpp>

#include "api/common.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "core/clock.h"
#include "core/errors.h"

namespace imgd::api {

namespace {

json::object UserJson(const User& u) {
  return {{"userId", u.id},
          {"userName", u.name},
          {"userEmail", u.email},
          {"isAdmin", u.is_admin},
          {"createdDate", FormatIsoMs(u.created_ms)}};
}

}  // namespace

void RegisterUserRoutes(http::Router& router, std::shared_ptr<ApiDeps> deps, AuthFn auth) {
  router.Add(
      bhttp::verb::post, "/v1/users", [deps, auth](RequestContext& ctx) -> awaitable<Response> {
        User caller = co_await auth(ctx);
        json::object body = co_await ReadJsonObject(ctx.body);
        for (const auto& kv : body) {
          if (kv.key() != "userName" && kv.key() != "userEmail") {
            throw BadRequest("unknown field '" + std::string(kv.key()) + "'", "unknown-field");
          }
        }
        auto [user, key] =
            co_await deps->users.CreateUser(caller, OptionalString(body, "userName").value_or(""),
                                            OptionalString(body, "userEmail").value_or(""));
        json::object o = UserJson(user);
        o["apiKey"] = key;
        Response r = http::Json(bhttp::status::created, o);
        r.headers.set(bhttp::field::cache_control, "no-store");
        co_return r;
      });

  router.Add(bhttp::verb::get, "/v1/users/me", [auth](RequestContext& ctx) -> awaitable<Response> {
    User caller = co_await auth(ctx);
    co_return http::Json(bhttp::status::ok, UserJson(caller));
  });
}

}  // namespace imgd::api
