#pragma once
// The seed's imageUrl flow: imgd fetches the image itself (see UrlFetcher: http/https, the
// address policy, size and time limits) and publishes what arrives as a new image.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string>

#include "net/url_fetcher.h"
#include "obs/metrics.h"
#include "service/publish_step.h"

namespace imgd {

class UrlUploadService {
 public:
  UrlUploadService(PublishStep& publish, UrlFetcher& fetcher, Metrics& metrics);

  // Fetches url (see UrlFetcher: http/https, address policy, size and time limits) and
  // uploads what it returns as Upload does. 400 for a refused URL or address. on_bytes is
  // called with each fetched piece's size as it arrives, before it is stored; it may throw
  // to stop the fetch (the owner's byte budget).
  boost::asio::awaitable<UploadResult> UploadFromUrl(
      const User& owner, const std::string& url, const UploadMeta& meta,
      const std::function<void(uint64_t)>& on_bytes = {});

 private:
  PublishStep& publish_;
  UrlFetcher& fetcher_;
  Metrics& metrics_;
};

}  // namespace imgd
