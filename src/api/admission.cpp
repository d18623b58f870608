// Abuse limits: upload admission, applied by the handlers, and the per-address request limit
// the server applies before routing (see routes.h).
#include <boost/beast/http/field.hpp>
#include <string>

#include "api/common.h"
#include "api/routes.h"
#include "core/errors.h"

namespace imgd::api {

UploadSlot::UploadSlot(ApiDeps& deps, ChunkSource& body)
    : deps_(deps), metered_(body, [this](size_t n) { OnBodyBytes(n); }) {
  const int now = ++*deps_.uploads_in_flight;
  counted_global_ = true;
  if (deps_.max_concurrent_uploads > 0 && now > deps_.max_concurrent_uploads) {
    Release();  // a throwing constructor runs no destructor
    deps_.metrics.Inc("imgd_rate_limited_total", {{"limit", "concurrent_uploads"}});
    throw Unavailable("too many uploads in progress; retry shortly", 1);
  }
}

UploadSlot::~UploadSlot() { Release(); }

void UploadSlot::Release() {
  if (counted_global_) --*deps_.uploads_in_flight;
  counted_global_ = false;
  if (counted_user_) {
    std::lock_guard lock(deps_.uploads_per_user->mu);
    auto it = deps_.uploads_per_user->count.find(user_id_);
    if (it != deps_.uploads_per_user->count.end() && --it->second <= 0) {
      deps_.uploads_per_user->count.erase(it);
    }
  }
  counted_user_ = false;
}

void UploadSlot::AdmitOwner(const std::string& user_id, uint64_t declared_bytes) {
  if (user_id.empty() || !user_id_.empty()) return;
  user_id_ = user_id;
  if (deps_.max_concurrent_uploads_per_key > 0) {
    int mine = 0;
    {
      std::lock_guard lock(deps_.uploads_per_user->mu);
      mine = ++deps_.uploads_per_user->count[user_id_];
      counted_user_ = true;
    }
    if (mine > deps_.max_concurrent_uploads_per_key) {
      deps_.metrics.Inc("imgd_rate_limited_total", {{"limit", "concurrent_uploads_per_key"}});
      throw Unavailable("this API key has " + std::to_string(mine - 1) +
                            " uploads in progress, the most it may have at once; retry when "
                            "one has finished",
                        1);
    }
  }
  // The declared length up front (a request the budget cannot pay is refused before its
  // first byte), at least one byte so an empty or chunked request still costs.
  Pay(std::max<uint64_t>(1, declared_bytes));
  paid_ = declared_bytes;
}

void UploadSlot::Pay(uint64_t bytes) {
  if (user_id_.empty() || !deps_.upload_bytes || !deps_.upload_bytes->enabled()) return;
  RateDecision d = deps_.upload_bytes->Take(user_id_, static_cast<double>(bytes));
  if (!d.allowed) {
    deps_.metrics.Inc("imgd_rate_limited_total", {{"limit", "upload_bytes"}});
    throw TooManyRequests("upload byte budget of this API key used up", d.retry_after_s, d.limit,
                          d.remaining, d.reset_s);
  }
}

void UploadSlot::OnBodyBytes(size_t n) {
  received_ += n;
  // A body without a length cannot outrun the budget.
  if (received_ > paid_) {
    Pay(received_ - paid_);
    paid_ = received_;
  }
}

std::unique_ptr<UploadSlot> AdmitUpload(ApiDeps& deps, const User* caller,
                                        http::RequestContext& ctx) {
  auto slot = std::make_unique<UploadSlot>(deps, ctx.body);
  if (caller) {
    uint64_t declared = 0;
    const std::string length = ctx.Header(boost::beast::http::field::content_length);
    if (!length.empty()) {
      try {
        declared = std::stoull(length);
      } catch (const std::exception&) {
        // The server rejected malformed lengths already.
      }
    }
    slot->AdmitOwner(caller->id, declared);
  }
  return slot;
}

std::function<void(bhttp::verb, std::string_view, const std::string&)> ClientRequestLimit(
    RateLimiter& limiter, Metrics& metrics) {
  return [&limiter, &metrics](bhttp::verb method, std::string_view path,
                              const std::string& client_ip) {
    const bool operational = (method == bhttp::verb::get || method == bhttp::verb::head) &&
                             (path == "/healthz" || path == "/readyz" || path == "/metrics");
    if (operational) return;
    RateDecision d = limiter.Take(client_ip);
    if (!d.allowed) {
      metrics.Inc("imgd_rate_limited_total", {{"limit", "client_requests"}});
      throw TooManyRequests("too many requests from this address", d.retry_after_s, d.limit,
                            d.remaining, d.reset_s);
    }
  };
}

}  // namespace imgd::api
