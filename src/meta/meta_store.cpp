// The metadata backends, chosen by URL scheme. A new SQL engine is one file (sql_session.h)
// and one line here; a store of another kind implements MetaStore itself.
#include "meta/meta_store.h"

#include <stdexcept>

#include "meta/cassandra_meta_store.h"
#include "meta/sql_meta_store.h"
#include "meta/sql_session.h"

namespace imgd {

std::unique_ptr<MetaStore> OpenMetaStore(const std::string& url) {
  const std::string scheme = "sqlite://";
  if (url.rfind(scheme, 0) == 0) {
    return std::make_unique<SqlMetaStore>(OpenSqliteEngine(url.substr(scheme.size())));
  }
  if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    return std::make_unique<SqlMetaStore>(OpenPgEngine(url));
  }
  if (url.rfind("cassandra://", 0) == 0) {
    return std::make_unique<CassandraMetaStore>(ParseCassandraUrl(url));
  }
  throw std::invalid_argument(
      "unsupported metadata URL (expected sqlite://..., postgres://... or cassandra://...): " +
      url);
}

}  // namespace imgd
