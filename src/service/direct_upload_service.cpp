#include "service/direct_upload_service.h"

namespace imgd {

boost::asio::awaitable<UploadResult> DirectUploadService::Upload(const User& owner,
                                                                 ChunkSource& bytes,
                                                                 const UploadMeta& meta) {
  co_return co_await publish_.StoreNew(owner, bytes, meta);
}

}  // namespace imgd
