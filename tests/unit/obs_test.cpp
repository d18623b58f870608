// Observability helpers: JSON escaping of log lines, store-call operation names.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "obs/log.h"
#include "obs/store_metrics.h"

using namespace imgd;

namespace {

TEST(Log, JsonStringsEscapeQuotesControlsAndNonAsciiBytes) {
  std::string out;
  AppendJsonString(out, std::string("a\"b\\c\n\x01\xff/", 9));
  EXPECT_EQ(out, R"("a\"b\\c\u000a\u0001\u00ff/")");
  // Whatever the bytes, the result parses as one JSON string (a byte >= 0x80 reads back as
  // the code point of the same number).
  EXPECT_EQ(boost::json::parse(out).as_string(), "a\"b\\c\n\x01\xc3\xbf/");
}

TEST(StoreMetrics, StatementOpNamesVerbAndTable) {
  EXPECT_EQ(StatementOp("SELECT id, sha256 FROM images WHERE id = ?"), "select images");
  EXPECT_EQ(StatementOp("  insert INTO blobs(sha256, size) VALUES ($1, $2)"), "insert blobs");
  EXPECT_EQ(StatementOp("UPDATE blobs SET refcount = refcount - 1"), "update blobs");
  EXPECT_EQ(StatementOp("DELETE FROM images WHERE id=?"), "delete images");
  EXPECT_EQ(StatementOp("BEGIN IMMEDIATE"), "begin");
  EXPECT_EQ(StatementOp("SELECT 1"), "select");
  EXPECT_EQ(StatementOp(""), "empty");
  EXPECT_LE(StatementOp("SELECT x FROM " + std::string(100, 'a')).size(), 40u);
}

}  // namespace
