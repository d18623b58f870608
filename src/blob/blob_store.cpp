#include "blob/blob_store.h"

#include <stdexcept>

#include "blob/fs_blob_store.h"
#include "blob/s3_blob_store.h"

namespace imgd {

std::unique_ptr<BlobStore> OpenBlobStore(const std::string& url) {
  const std::string file_scheme = "file://";
  if (url.rfind(file_scheme, 0) == 0) {
    return std::make_unique<FsBlobStore>(url.substr(file_scheme.size()));
  }
  if (url.rfind("s3://", 0) == 0) return std::make_unique<S3BlobStore>(S3Config::FromUrl(url));
  throw std::invalid_argument("unsupported blob store URL (expected file://... or s3://...): " +
                              url);
}

}  // namespace imgd
