#include "service/url_upload_service.h"

#include "core/errors.h"

namespace imgd {

UrlUploadService::UrlUploadService(PublishStep& publish, UrlFetcher& fetcher, Metrics& metrics)
    : publish_(publish), fetcher_(fetcher), metrics_(metrics) {}

boost::asio::awaitable<UploadResult> UrlUploadService::UploadFromUrl(
    const User& owner, const std::string& url, const UploadMeta& meta,
    const std::function<void(uint64_t)>& on_bytes) {
  try {
    std::unique_ptr<ChunkSource> fetched = co_await fetcher_.Open(url);
    TappedSource body(*fetched, on_bytes);  // each piece reported before it is stored
    UploadResult r = co_await publish_.StoreNew(owner, body, meta);
    metrics_.Inc("imgd_url_fetches_total", {{"result", "ok"}});
    co_return r;
  } catch (const Error& e) {
    metrics_.Inc("imgd_url_fetches_total", {{"result", e.slug()}});
    throw;
  }
}

}  // namespace imgd
