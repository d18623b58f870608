// Abuse limits applied by the handlers: upload admission (see routes.h).
#include <boost/beast/http/field.hpp>
#include <string>

#include "api/routes.h"
#include "core/errors.h"

namespace imgd::api {

UploadSlot::UploadSlot(ApiDeps& deps, const User* caller, ChunkSource& body)
    : deps_(deps), user_id_(caller ? caller->id : ""), metered_(*this, body) {
  // A throwing constructor runs no destructor: give back what was taken before throwing.
  try {
    const int now = ++*deps_.uploads_in_flight;
    counted_global_ = true;
    if (deps_.max_concurrent_uploads > 0 && now > deps_.max_concurrent_uploads) {
      deps_.metrics.Inc("imgd_rate_limited_total", {{"limit", "concurrent_uploads"}});
      throw Unavailable("too many uploads in progress; retry shortly", 1);
    }
    if (!user_id_.empty() && deps_.max_concurrent_uploads_per_key > 0) {
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
  } catch (...) {
    Release();
    throw;
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

void UploadSlot::Charge(double bytes) {
  RateDecision d = deps_.upload_bytes->Take(user_id_, bytes);
  if (!d.allowed) {
    deps_.metrics.Inc("imgd_rate_limited_total", {{"limit", "upload_bytes"}});
    throw TooManyRequests("upload byte budget of this API key used up", d.retry_after_s, d.limit,
                          d.remaining, d.reset_s);
  }
}

boost::asio::awaitable<std::span<const char>> UploadSlot::Metered::Next() {
  std::span<const char> chunk = co_await inner.Next();
  received += chunk.size();
  // Bytes beyond what was charged up front (all of a chunked body's) are charged as they
  // come: a body without a length cannot outrun the budget.
  if (received > charged && !slot.user_id_.empty() && slot.deps_.upload_bytes &&
      slot.deps_.upload_bytes->enabled()) {
    slot.Charge(static_cast<double>(received - charged));
    charged = received;
  }
  co_return chunk;
}

std::unique_ptr<UploadSlot> AdmitUpload(ApiDeps& deps, const User* caller,
                                        http::RequestContext& ctx) {
  auto slot = std::make_unique<UploadSlot>(deps, caller, ctx.body);
  if (caller && deps.upload_bytes && deps.upload_bytes->enabled()) {
    const std::string declared = ctx.Header(boost::beast::http::field::content_length);
    uint64_t cost = 0;
    if (!declared.empty()) {
      try {
        cost = std::stoull(declared);
      } catch (const std::exception&) {
        // The server rejected malformed lengths already.
      }
    }
    // The declared length up front (a request the budget cannot pay is refused before its
    // first byte), at least one byte so an empty or chunked request still costs.
    slot->Charge(static_cast<double>(std::max<uint64_t>(1, cost)));
    slot->PreCharged(cost);
  }
  return slot;
}

}  // namespace imgd::api
