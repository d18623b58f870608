#pragma once
// Contract-suite fixtures: the same tests run against every implementation of an interface.
// The embedded ones always run; PostgreSQL and S3 run when the test scripts started real
// servers and exported IMGD_TEST_PG_URL / IMGD_TEST_S3_URL (tests/engines.py), and are
// skipped otherwise (`make test` always runs them through that script).
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "blob/blob_store.h"
#include "core/clock.h"
#include "core/ids.h"
#include "meta/cassandra_meta_store.h"
#include "meta/cql_session.h"
#include "meta/meta_store.h"
#include "meta/sql_session.h"
#include "test_util.h"

namespace imgd::testing {

// A fresh PostgreSQL database per test, dropped afterwards.
class PgTestDatabase {
 public:
  // Skips the test (returns false) when no server was started for the tests.
  bool Create() {
    const char* admin = std::getenv("IMGD_TEST_PG_URL");  // .../postgres
    if (!admin) return false;
    admin_ = admin;
    name_ = "t_" + RandomToken(8);
    for (char& c : name_) c = std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '_';
    Admin("CREATE DATABASE " + name_);
    url_ = admin_.substr(0, admin_.rfind('/') + 1) + name_;
    return true;
  }
  ~PgTestDatabase() {
    if (!name_.empty()) Admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }
  const std::string& url() const { return url_; }

 private:
  void Admin(const std::string& sql) {
    PGconn* c = PQconnectdb(admin_.c_str());
    PGresult* r = PQexec(c, sql.c_str());
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    std::string err = PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
    if (!ok) ADD_FAILURE() << sql << ": " << err;
  }
  std::string admin_, name_, url_;
};

// A fresh Cassandra keyspace per test (the store's Migrate creates it), dropped afterwards.
class CassandraTestKeyspace {
 public:
  // Skips the test (returns false) when no node was started for the tests.
  bool Create() {
    const char* url = std::getenv("IMGD_TEST_CASSANDRA_URL");  // cassandra://h:p/imgd?dc=dc1
    if (!url) return false;
    const std::string base = url;
    const size_t slash = base.find('/', std::string("cassandra://").size());
    const size_t query = base.find('?', slash);
    keyspace_ = "t_" + RandomToken(8);
    for (char& c : keyspace_)
      c = std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '_';
    url_ = base.substr(0, slash + 1) + keyspace_ + base.substr(query);
    endpoint_ = ParseCassandraUrl(url_).endpoint;
    endpoint_.request_timeout_ms = 20'000;
    return true;
  }
  ~CassandraTestKeyspace() {
    if (keyspace_.empty()) return;
    try {
      CqlSession(endpoint_).Ddl("DROP KEYSPACE IF EXISTS " + keyspace_);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "drop keyspace " << keyspace_ << ": " << e.what();
    }
  }
  const std::string& url() const { return url_; }

 private:
  std::string keyspace_, url_;
  CqlEndpoint endpoint_;
};

// MetaStore contract: GetParam() is "sqlite", "postgres" or "cassandra".
class MetaStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !pg_.Create()) {
      if (std::getenv("IMGD_TEST_REQUIRE_ENGINES")) FAIL() << "IMGD_TEST_PG_URL not set";
      GTEST_SKIP() << "IMGD_TEST_PG_URL not set (run through tests/engines/engines.py)";
    }
    if (GetParam() == "cassandra" && !cassandra_.Create()) {
      if (std::getenv("IMGD_TEST_REQUIRE_ENGINES")) FAIL() << "IMGD_TEST_CASSANDRA_URL not set";
      GTEST_SKIP() << "IMGD_TEST_CASSANDRA_URL not set (engines.py run --cassandra)";
    }
    store_ = Open();
    store_->Migrate();
    store_->Migrate();  // idempotent
  }
  void TearDown() override { store_.reset(); }
  // Another handle on the same database (as a second node would have).
  std::unique_ptr<MetaStore> Open() {
    if (GetParam() == "postgres") return OpenMetaStore(pg_.url());
    if (GetParam() == "cassandra") return OpenMetaStore(cassandra_.url());
    return OpenMetaStore("sqlite://" + (dir_.path() / "t.db").string());
  }
  // The SQL engine under the store, for tests that shape the database by hand.
  std::unique_ptr<SqlEngine> Engine() {
    if (GetParam() == "postgres") return OpenPgEngine(pg_.url(), 1);
    return OpenSqliteEngine((dir_.path() / "t.db").string(), 1);
  }
  Image Candidate(const std::string& user, const std::string& sha) {
    Image im;
    im.id = NewUuidV7();
    im.user_id = user;
    im.created_by = im.modified_by = user;
    im.created_ms = im.modified_ms = NowMs();
    im.size = 10;
    im.width = 4;
    im.height = 3;
    im.sha256 = sha;
    return im;
  }
  TempDir dir_;
  PgTestDatabase pg_;
  CassandraTestKeyspace cassandra_;
  std::unique_ptr<MetaStore> store_;
};

}  // namespace imgd::testing

namespace imgd::testing {

// BlobStore contract: GetParam() is "fs" or "s3" (each S3 test in its own key prefix).
class BlobStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "s3" || GetParam() == "s3_virtual_host") {
      const char* url = std::getenv("IMGD_TEST_S3_URL");
      if (!url) {
        if (std::getenv("IMGD_TEST_REQUIRE_ENGINES")) FAIL() << "IMGD_TEST_S3_URL not set";
        GTEST_SKIP() << "IMGD_TEST_S3_URL not set (run through tests/engines/engines.py)";
      }
      std::string u = std::string(url) + "&prefix=t" + RandomToken(6);
      if (GetParam() == "s3_virtual_host") {
        // bucket.localhost:port in the Host header (the engine's storage domain), the
        // connection to the endpoint's address.
        auto at = u.find("127.0.0.1");
        if (at != std::string::npos) u.replace(at, 9, "localhost");
        auto style = u.find("style=path");
        if (style != std::string::npos) u.replace(style, 10, "style=virtual");
      }
      store_ = OpenBlobStore(u);
    } else {
      store_ = OpenBlobStore("file://" + (dir_.path() / "blobs").string());
    }
  }
  TempDir dir_;
  std::unique_ptr<BlobStore> store_;
};

}  // namespace imgd::testing
