// The metadata backends, chosen by URL scheme. A new backend is one file and one line here.
#include "meta/meta_store.h"

#include <stdexcept>

#include "meta/pg_meta_store.h"
#include "meta/sqlite_meta_store.h"

namespace imgd {

std::unique_ptr<MetaStore> OpenMetaStore(const std::string& url) {
  const std::string scheme = "sqlite://";
  if (url.rfind(scheme, 0) == 0)
    return std::make_unique<SqliteMetaStore>(url.substr(scheme.size()));
  if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    return std::make_unique<PgMetaStore>(url);
  }
  throw std::invalid_argument(
      "unsupported metadata URL (expected sqlite://... or postgres://...): " + url);
}

}  // namespace imgd
