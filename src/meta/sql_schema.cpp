// The SQL MetaStore's schema: one list of versions for every engine (types both accept:
// BIGINT has integer affinity in SQLite), each applied once, in order, inside the migration
// transaction, and recorded in schema_migrations.
#include <iterator>

#include "core/clock.h"
#include "meta/sql_meta_store.h"

namespace imgd {
namespace {

const char* const kMigrations[] = {
    // 1: users, keys, blobs and images.
    R"sql(
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT NOT NULL,
  is_admin INTEGER NOT NULL DEFAULT 0,
  created_ms BIGINT NOT NULL
);
CREATE TABLE api_keys (
  key_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  created_ms BIGINT NOT NULL
);
CREATE INDEX api_keys_by_user ON api_keys(user_id);
CREATE TABLE blobs (
  sha256 TEXT PRIMARY KEY,
  size BIGINT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  refcount BIGINT NOT NULL CHECK (refcount >= 0),
  created_ms BIGINT NOT NULL
);
CREATE TABLE images (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  modified_by TEXT NOT NULL,
  modified_ms BIGINT NOT NULL,
  format TEXT NOT NULL,
  size BIGINT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  sha256 TEXT,
  status TEXT NOT NULL,
  expires_ms BIGINT NOT NULL DEFAULT 0,
  -- sha256 for a user's first record of some bytes, NULL for extra ones (onDuplicate=new):
  -- concurrent identical uploads collide on this unique index and collapse into one record.
  dedup_key TEXT
);
CREATE UNIQUE INDEX images_dedup ON images(user_id, dedup_key);
CREATE INDEX images_by_user ON images(user_id, id);
CREATE INDEX images_by_user_sha ON images(user_id, sha256);
)sql",
    // 2: pending images and resumable uploads, idempotency keys, secrets.
    R"sql(
CREATE TABLE uploads (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  length BIGINT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  policy TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  image_id TEXT
);
CREATE INDEX uploads_by_expiry ON uploads(expires_ms);
CREATE INDEX images_pending_expiry ON images(status, expires_ms);
CREATE TABLE idempotency_keys (
  user_id TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  status INTEGER NOT NULL DEFAULT 0,
  body TEXT NOT NULL DEFAULT '',
  location TEXT NOT NULL DEFAULT '',
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_by_age ON idempotency_keys(created_ms);
CREATE TABLE secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  created_ms BIGINT NOT NULL
);
)sql",
    // 3: resumable upload leases (one node appends at a time).
    R"sql(
ALTER TABLE uploads ADD COLUMN lease_owner TEXT;
ALTER TABLE uploads ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
)sql",
    // 4: per-image visibility.
    R"sql(
ALTER TABLE images ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
ALTER TABLE uploads ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
)sql",
    // 5: at most one admin, even when several nodes create it at once (PostgreSQL databases
    // made before the shared numbering already have it).
    R"sql(
CREATE UNIQUE INDEX IF NOT EXISTS users_one_admin ON users(is_admin) WHERE is_admin = 1;
)sql",
    // 6: the edge purge outbox (see purge_outbox_store.h).
    R"sql(
CREATE TABLE purge_outbox (
  edge TEXT NOT NULL,
  id TEXT NOT NULL,
  surrogate_keys TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  due_ms BIGINT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (edge, id)
);
)sql",
    // 7: perceptual hashes and the per-user similarity index (see similarity_store.h).
    R"sql(
CREATE TABLE content_hashes (
  sha256 TEXT PRIMARY KEY,
  phash BIGINT NOT NULL
);
CREATE TABLE similar_index (
  user_id TEXT NOT NULL,
  band INTEGER NOT NULL,
  value INTEGER NOT NULL,
  image_id TEXT NOT NULL,
  phash BIGINT NOT NULL,
  PRIMARY KEY (user_id, band, value, image_id)
);
)sql",
    // 8: placeholders (image/blurhash.h), per image and per content.
    R"sql(
ALTER TABLE images ADD COLUMN blurhash TEXT NOT NULL DEFAULT '';
ALTER TABLE blobs ADD COLUMN blurhash TEXT NOT NULL DEFAULT '';
)sql",
};

}  // namespace

void SqlMetaStore::Migrate() {
  Run(Txn::kWrite, [this](SqlSession& s) {
    const SqlDialect& d = dialect();
    if (*d.migration_lock) s.Exec(d.migration_lock);
    s.ExecScript(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, "
        "applied_ms BIGINT NOT NULL)");
    int64_t version = s.Exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Int(0, 0);
    if (version == 0 && !s.Exec(d.table_exists, {std::string("schema_version")}).empty()) {
      // A database from before the shared numbering: its versions, shifted where this
      // engine's old list was shorter, are already applied. schema_version stays, so an
      // older imgd still sees its schema as current.
      const int64_t legacy =
          s.Exec("SELECT COALESCE(MAX(version), 0) FROM schema_version").Int(0, 0);
      if (legacy > 0) version = legacy + d.legacy_version_offset;
      for (int64_t v = 1; v <= version; ++v) {
        s.Exec("INSERT INTO schema_migrations(version, applied_ms) VALUES (?, ?)", {v, NowMs()});
      }
    }
    const int64_t target = static_cast<int64_t>(std::size(kMigrations));
    for (int64_t v = version; v < target; ++v) {
      s.ExecScript(kMigrations[v]);
      s.Exec("INSERT INTO schema_migrations(version, applied_ms) VALUES (?, ?)", {v + 1, NowMs()});
    }
  });
}

}  // namespace imgd
