// Abuse limits applied by the handlers: upload admission (see routes.h).
#include <boost/beast/http/field.hpp>
#include <string>

#include "api/routes.h"
#include "core/errors.h"

namespace imgd::api {

UploadSlot AdmitUpload(ApiDeps& deps, const User* caller, const http::RequestContext& ctx) {
  const int now = ++*deps.uploads_in_flight;
  UploadSlot slot(deps.uploads_in_flight);
  if (deps.max_concurrent_uploads > 0 && now > deps.max_concurrent_uploads) {
    deps.metrics.Inc("imgd_rate_limited_total", {{"limit", "concurrent_uploads"}});
    throw Unavailable("too many uploads in progress; retry shortly", 1);
  }
  if (caller && deps.upload_bytes && deps.upload_bytes->enabled()) {
    const std::string declared = ctx.Header(boost::beast::http::field::content_length);
    double cost = 1;  // a chunked body is counted as it could not be priced up front
    if (!declared.empty()) {
      try {
        cost = std::max(1.0, static_cast<double>(std::stoull(declared)));
      } catch (const std::exception&) {
        // The server rejected malformed lengths already; price it as one byte.
      }
    }
    RateDecision d = deps.upload_bytes->Take(caller->id, cost);
    if (!d.allowed) {
      deps.metrics.Inc("imgd_rate_limited_total", {{"limit", "upload_bytes"}});
      throw TooManyRequests("upload byte budget of this API key used up", d.retry_after_s, d.limit,
                            d.remaining, d.reset_s);
    }
  }
  return slot;
}

}  // namespace imgd::api
