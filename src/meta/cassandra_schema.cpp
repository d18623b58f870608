// The Cassandra MetaStore's URL, schema, readiness and expiry indexes.
#include <cctype>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/errors.h"
#include "meta/cassandra_meta_store.h"

namespace imgd {
namespace {

constexpr int64_t kSchemaVersion = 4;
constexpr int64_t kExpiryShards = 16;

// The tables, by the queries they serve. Every number is a bigint (one bound type).
const char* const kTables[] = {
    // Users by id, and API key hashes to users (both ways, for export and key rotation).
    "CREATE TABLE IF NOT EXISTS {ks}.users (id text PRIMARY KEY, name text, email text, "
    "is_admin boolean, created_ms bigint)",
    "CREATE TABLE IF NOT EXISTS {ks}.api_keys (key_hash text PRIMARY KEY, user_id text, "
    "created_ms bigint)",
    "CREATE TABLE IF NOT EXISTS {ks}.keys_by_user (user_id text, key_hash text, "
    "PRIMARY KEY (user_id, key_hash))",
    // The one admin and its one key: a single row changed by lightweight transactions.
    "CREATE TABLE IF NOT EXISTS {ks}.admin (id text PRIMARY KEY, user_id text, key_hash text)",
    // Images by id, clustered by creation time as the seed design has it.
    "CREATE TABLE IF NOT EXISTS {ks}.images (id text, created_ms bigint, user_id text, "
    "name text, description text, created_by text, modified_by text, modified_ms bigint, "
    "format text, size bigint, width bigint, height bigint, sha256 text, status text, "
    "expires_ms bigint, visibility text, blurhash text, PRIMARY KEY (id, created_ms))",
    // A user's image ids, newest first (ids are UUIDv7: time-ordered).
    "CREATE TABLE IF NOT EXISTS {ks}.images_by_user (user_id text, id text, "
    "PRIMARY KEY (user_id, id)) WITH CLUSTERING ORDER BY (id DESC)",
    // A user's ready images by content, oldest first, and the duplicate slot that decides
    // which upload of some content creates the record.
    "CREATE TABLE IF NOT EXISTS {ks}.user_blobs (user_id text, sha256 text, image_id text, "
    "PRIMARY KEY ((user_id, sha256), image_id))",
    "CREATE TABLE IF NOT EXISTS {ks}.dedup_slots (user_id text, sha256 text, image_id text, "
    "state text, claimed_ms bigint, PRIMARY KEY ((user_id, sha256)))",
    // Blobs: the row, one reference per image, removal tokens, and the ones to remove.
    "CREATE TABLE IF NOT EXISTS {ks}.blobs (sha256 text PRIMARY KEY, size bigint, "
    "width bigint, height bigint, blurhash text, created_ms bigint)",
    "CREATE TABLE IF NOT EXISTS {ks}.blob_refs (sha256 text, image_id text, "
    "created_ms bigint, PRIMARY KEY (sha256, image_id))",
    "CREATE TABLE IF NOT EXISTS {ks}.blob_removals (sha256 text, remover text, "
    "PRIMARY KEY (sha256, remover))",
    "CREATE TABLE IF NOT EXISTS {ks}.unreferenced_blobs (shard bigint, sha256 text, "
    "PRIMARY KEY (shard, sha256))",
    // Pending images, uploads and idempotency keys by when they expire, 16 shards a kind.
    "CREATE TABLE IF NOT EXISTS {ks}.expiries (kind text, shard bigint, at_ms bigint, "
    "id text, PRIMARY KEY ((kind, shard), at_ms, id))",
    "CREATE TABLE IF NOT EXISTS {ks}.uploads (id text PRIMARY KEY, user_id text, "
    "length bigint, name text, description text, policy text, visibility text, "
    "created_ms bigint, expires_ms bigint, image_id text, state text, state_ms bigint, "
    "lease_owner text, lease_until bigint)",
    "CREATE TABLE IF NOT EXISTS {ks}.idempotency_keys (user_id text, idem_key text, "
    "fingerprint text, done boolean, status bigint, body text, location text, "
    "created_ms bigint, PRIMARY KEY ((user_id, idem_key)))",
    "CREATE TABLE IF NOT EXISTS {ks}.secrets (name text PRIMARY KEY, value text, "
    "created_ms bigint)",
    // Edge purges not acknowledged yet (version 2), by (edge, shard).
    "CREATE TABLE IF NOT EXISTS {ks}.purge_outbox (edge text, shard bigint, id text, "
    "surrogate_keys text, created_ms bigint, due_ms bigint, attempts bigint, "
    "PRIMARY KEY ((edge, shard), id)) WITH gc_grace_seconds = 3600",
    // Perceptual hashes and the similarity index (version 3; see cassandra_similarity.cpp).
    "CREATE TABLE IF NOT EXISTS {ks}.content_hashes (sha256 text PRIMARY KEY, phash bigint)",
    "CREATE TABLE IF NOT EXISTS {ks}.similar_index (user_id text, band bigint, bucket bigint, "
    "value text, image_id text, phash bigint, PRIMARY KEY ((user_id, band, bucket), value, "
    "image_id))",
    "CREATE TABLE IF NOT EXISTS {ks}.schema_migrations (version bigint PRIMARY KEY, "
    "applied_ms bigint)",
};

// (table, column, type) added in a later version; kTables has them too, for new keyspaces.
struct AddedColumn {
  const char* table;
  const char* column;
  const char* type;
};
const AddedColumn kAddedColumns[] = {
    {"images", "blurhash", "text"},  // version 4: placeholders
    {"blobs", "blurhash", "text"},
};

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 48) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

// "a,b,,c" → {"a", "b", "", "c"} (an empty input is one empty item).
std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  for (size_t start = 0;;) {
    const size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

// "dc1:3,dc2:3" → "'dc1': 3, 'dc2': 3".
std::string ReplicationMap(const std::string& spec) {
  std::string out;
  for (const std::string& item : Split(spec, ',')) {
    const size_t colon = item.find(':');
    const std::string dc = item.substr(0, colon);
    const std::string rf = colon == std::string::npos ? "" : item.substr(colon + 1);
    if (!ValidName(dc) || rf.empty() || rf.find_first_not_of("0123456789") != std::string::npos) {
      throw std::invalid_argument("cassandra: replication must be dc:factor,...: " + spec);
    }
    if (!out.empty()) out += ", ";
    out += "'" + dc + "': " + rf;
  }
  return out;
}

}  // namespace

namespace {

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

int64_t CassandraMetaStore::Shard(const std::string& id) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ULL;
  return static_cast<int64_t>(h % kExpiryShards);
}

CassandraUrl ParseCassandraUrl(const std::string& url) {
  const std::string scheme = "cassandra://";
  if (url.rfind(scheme, 0) != 0) throw std::invalid_argument("not a cassandra:// URL: " + url);
  CassandraUrl out;
  std::string rest = url.substr(scheme.size());
  std::string query;
  if (size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  std::string hosts = rest;
  out.keyspace.clear();
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    hosts = rest.substr(0, slash);
    out.keyspace = rest.substr(slash + 1);
  }
  // user:password@ (percent-encoded) logs in with Cassandra's PasswordAuthenticator.
  if (size_t at = hosts.rfind('@'); at != std::string::npos) {
    const std::string login = hosts.substr(0, at);
    hosts = hosts.substr(at + 1);
    const size_t colon = login.find(':');
    out.endpoint.user = PercentDecode(login.substr(0, colon));
    if (colon != std::string::npos) out.endpoint.password = PercentDecode(login.substr(colon + 1));
    if (out.endpoint.user.empty()) throw std::invalid_argument("cassandra: empty user name");
  }
  for (char c : out.keyspace) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
      throw std::invalid_argument("cassandra: keyspace must be letters, digits, _: " + url);
    }
  }
  if (out.keyspace.empty() || hosts.empty()) {
    throw std::invalid_argument("cassandra: expected cassandra://host[,host][:port]/keyspace");
  }
  // "h1,h2:9042": a port given once applies to every host without one.
  const std::vector<std::string> list = Split(hosts, ',');
  std::string port = "9042";
  for (const auto& h : list) {
    if (size_t colon = h.rfind(':'); colon != std::string::npos) port = h.substr(colon + 1);
  }
  for (const auto& h : list) {
    if (h.empty()) throw std::invalid_argument("cassandra: empty host in " + url);
    if (!out.endpoint.hosts.empty()) out.endpoint.hosts += ",";
    out.endpoint.hosts += h.find(':') == std::string::npos ? h + ":" + port : h;
  }
  out.endpoint.local_dc = "datacenter1";
  for (const std::string& kv : query.empty() ? std::vector<std::string>{} : Split(query, '&')) {
    const size_t eq = kv.find('=');
    const std::string key = kv.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : kv.substr(eq + 1);
    if (key == "dc") {
      out.endpoint.local_dc = value;
    } else if (key == "replication") {
      out.replication = Replace(value, "%2C", ",");
    } else if (key == "timeout_ms" || key == "connect_timeout_ms") {
      int64_t ms = 0;
      try {
        ms = std::stoll(value);
      } catch (const std::exception&) {
      }
      if (ms <= 0) throw std::invalid_argument("cassandra: " + key + " must be > 0");
      (key == "timeout_ms" ? out.endpoint.request_timeout_ms : out.endpoint.connect_timeout_ms) =
          ms;
    } else {
      throw std::invalid_argument("cassandra: unknown URL parameter " + key);
    }
  }
  if (!ValidName(out.endpoint.local_dc)) throw std::invalid_argument("cassandra: bad dc");
  if (out.replication.empty()) out.replication = out.endpoint.local_dc + ":1";
  ReplicationMap(out.replication);  // validates
  return out;
}

CassandraMetaStore::CassandraMetaStore(const CassandraUrl& url)
    : url_(url), keyspace_(url.keyspace), cql_(url.endpoint) {}

CassandraMetaStore::~CassandraMetaStore() = default;

void CassandraMetaStore::Migrate() {
  // Connects first, so a refused login or an unreachable cluster fails with its own message
  // (not with the breaker's after the retries below).
  Ping();
  // A node that finds the schema current changes nothing: concurrent CREATE TABLE from
  // several nodes is what Cassandra handles worst, so only a first start (or `imgd migrate`)
  // issues DDL.
  try {
    auto r = cql_.Run("SELECT version FROM " + T("schema_migrations") + " WHERE version = ?",
                      {kSchemaVersion});
    if (!r.empty()) return;
  } catch (const StoreError&) {
    // No keyspace or table yet.
  }
  // A node that just joined, or a driver refreshing its view after a schema change, can
  // briefly have no route for a statement: each one is retried for a few seconds.
  auto ddl = [&](const std::string& statement) {
    for (int attempt = 0;; ++attempt) {
      try {
        cql_.Ddl(statement);
        return;
      } catch (const StoreError&) {
        if (attempt >= 20) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    }
  };
  ddl("CREATE KEYSPACE IF NOT EXISTS " + keyspace_ +
      " WITH replication = {'class': 'NetworkTopologyStrategy', " +
      ReplicationMap(url_.replication) + "}");
  for (const char* table : kTables) ddl(Replace(table, "{ks}", keyspace_));
  // Columns added after a table's first version (CREATE TABLE IF NOT EXISTS leaves an older
  // table as it was). Cassandra refuses to add a column twice: look first.
  cql_.AwaitSchemaAgreement();
  for (const auto& [table, column, type] : kAddedColumns) {
    auto has = cql_.Run(
        "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND "
        "table_name = ? AND column_name = ?",
        {keyspace_, std::string(table), std::string(column)});
    if (has.empty()) {
      ddl("ALTER TABLE " + T(table) + " ADD " + std::string(column) + " " + std::string(type));
    }
  }
  cql_.AwaitSchemaAgreement();
  cql_.Run("INSERT INTO " + T("schema_migrations") + " (version, applied_ms) VALUES (?, ?)",
           {kSchemaVersion, NowMs()});
}

void CassandraMetaStore::Ping() {
  cql_.Run("SELECT release_version FROM system.local", {}, CqlLevel::kLocalOne);
}

void CassandraMetaStore::IndexExpiry(const std::string& kind, const std::string& id,
                                     int64_t at_ms) {
  cql_.Run("INSERT INTO " + T("expiries") + " (kind, shard, at_ms, id) VALUES (?, ?, ?, ?)",
           {kind, Shard(id), at_ms, id});
}

void CassandraMetaStore::UnindexExpiry(const std::string& kind, const std::string& id,
                                       int64_t at_ms) {
  cql_.Run(
      "DELETE FROM " + T("expiries") + " WHERE kind = ? AND shard = ? AND at_ms = ? AND id = ?",
      {kind, Shard(id), at_ms, id});
}

std::vector<std::pair<std::string, int64_t>> CassandraMetaStore::DueExpiries(
    const std::string& kind, int64_t before_ms) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (int64_t shard = 0; shard < kExpiryShards; ++shard) {
    auto r = cql_.Run("SELECT id, at_ms FROM " + T("expiries") +
                          " WHERE kind = ? AND shard = ? AND at_ms < ? LIMIT 1000",
                      {kind, shard, before_ms});
    for (size_t i = 0; i < r.size(); ++i) out.emplace_back(r.Text(i, 0), r.Int(i, 1));
  }
  return out;
}

}  // namespace imgd
