// The SQL MetaStore's schema on both engines: one numbering, databases from before it
// upgrade without rerunning a version, and the rules the schema itself enforces.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/clock.h"
#include "core/errors.h"
#include "core/ids.h"
#include "meta/sql_session.h"
#include "store_fixtures.h"

using namespace imgd;
using namespace imgd::testing;

namespace {

int64_t SchemaVersion(SqlEngine& engine) {
  return engine.Connect()->Exec("SELECT MAX(version) FROM schema_migrations").Int(0, 0);
}

int CountAdmins(MetaStore& store) {
  int admins = 0;
  for (const auto& u : store.ExportUsers("", 1000)) admins += u.user.is_admin ? 1 : 0;
  return admins;
}

}  // namespace

TEST_P(MetaStoreTest, BothEnginesRecordTheSameSchemaVersion) {
  if (GetParam() == "cassandra") GTEST_SKIP() << "SQL engines only";
  auto engine = Engine();
  EXPECT_EQ(SchemaVersion(*engine), 8);
}

TEST_P(MetaStoreTest, DatabaseNumberedBeforeTheSharedListUpgradesWithoutRerunningAVersion) {
  if (GetParam() == "cassandra") GTEST_SKIP() << "SQL engines only";
  auto kept = store_->CommitImage(Candidate("u1", "s1"), DuplicatePolicy::kReturnExisting);
  store_.reset();
  // Make the database look as the engine's own migration list left it: schema_version
  // with its numbers (PostgreSQL's first version held today's first two), no
  // schema_migrations, without today's version 5 (one admin) on SQLite, and without
  // versions 6 to 8 (the purge outbox, the similarity index, placeholders), which came
  // after the shared list.
  auto engine = Engine();
  auto s = engine->Connect();
  s->ExecScript("DROP TABLE schema_migrations");
  s->ExecScript("DROP TABLE purge_outbox");
  s->ExecScript("DROP TABLE content_hashes");
  s->ExecScript("DROP TABLE similar_index");
  s->ExecScript("ALTER TABLE images DROP COLUMN blurhash");
  s->ExecScript("ALTER TABLE blobs DROP COLUMN blurhash");
  s->ExecScript("CREATE TABLE schema_version (version INTEGER NOT NULL)");
  const int legacy_versions = GetParam() == "postgres" ? 3 : 4;
  if (GetParam() == "sqlite") s->ExecScript("DROP INDEX users_one_admin");
  for (int v = 1; v <= legacy_versions; ++v) {
    s->Exec("INSERT INTO schema_version(version) VALUES (?)", {int64_t{v}});
  }
  s.reset();

  store_ = Open();
  ASSERT_NO_THROW(store_->Migrate());  // rerunning any applied version would fail here
  EXPECT_EQ(SchemaVersion(*engine), 8);
  auto read = store_->GetImage(kept.image.id);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->sha256, "s1");
  EXPECT_EQ(read->visibility, kVisibilityPublic);
  // Version 5 holds on both: a second admin is refused.
  store_->SetAdminKey("admin");
  MetaStore::UserExport second{{NewUuidV7(), "admin2", "", true, NowMs()}, {"k2"}};
  EXPECT_THROW(store_->ImportUser(second), StoreError);
  EXPECT_EQ(CountAdmins(*store_), 1);
  store_->Migrate();
  EXPECT_EQ(SchemaVersion(*engine), 8);
  EXPECT_TRUE(store_->PendingPurges("e", 1).empty());  // versions 6 and 7 applied
  EXPECT_TRUE(store_->FindSimilar("u", 0, 10, 1).empty());
}

TEST_P(MetaStoreTest, NodesSettingTheAdminKeyAtOnceMakeOneAdmin) {
  std::vector<std::unique_ptr<MetaStore>> nodes;
  for (int i = 0; i < 4; ++i) nodes.push_back(Open());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (size_t i = 0; i < nodes.size(); ++i) {
    threads.emplace_back([&, i] {
      try {
        nodes[i]->SetAdminKey("key" + std::to_string(i));
      } catch (const std::exception& e) {
        ++failures;
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(CountAdmins(*store_), 1);
  // The last writer's key is the admin's only key.
  int keys = 0;
  for (int i = 0; i < 4; ++i) keys += store_->FindUserByKeyHash("key" + std::to_string(i)) ? 1 : 0;
  EXPECT_EQ(keys, 1);
}
