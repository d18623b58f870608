// The cassandra:// URL of --meta: hosts and ports, the local datacenter, replication and
// timeouts, and clear refusals of what it cannot mean.
#include <gtest/gtest.h>

#include <stdexcept>

#include "meta/cassandra_meta_store.h"

using imgd::ParseCassandraUrl;

TEST(CassandraUrl, HostsTakeThePortGivenOnce) {
  auto u = ParseCassandraUrl("cassandra://h1,h2:9142/imgd?dc=eu");
  EXPECT_EQ(u.endpoint.hosts, "h1:9142,h2:9142");
  EXPECT_EQ(u.keyspace, "imgd");
  EXPECT_EQ(u.endpoint.local_dc, "eu");
  EXPECT_EQ(u.replication, "eu:1");  // default: the local datacenter, one replica
  auto v = ParseCassandraUrl("cassandra://a:1,b/k");
  EXPECT_EQ(v.endpoint.hosts, "a:1,b:1");
  EXPECT_EQ(ParseCassandraUrl("cassandra://a/k").endpoint.hosts, "a:9042");
}

TEST(CassandraUrl, ALoginIsPercentDecoded) {
  auto u = ParseCassandraUrl("cassandra://imgd:p%40ss%3Aword@h1,h2:9042/k?dc=eu");
  EXPECT_EQ(u.endpoint.user, "imgd");
  EXPECT_EQ(u.endpoint.password, "p@ss:word");
  EXPECT_EQ(u.endpoint.hosts, "h1:9042,h2:9042");
  EXPECT_TRUE(ParseCassandraUrl("cassandra://h/k").endpoint.user.empty());
  EXPECT_THROW(ParseCassandraUrl("cassandra://:pw@h/k"), std::invalid_argument);
}

TEST(CassandraUrl, ReplicationAndTimeouts) {
  auto u = ParseCassandraUrl(
      "cassandra://h:9042/imgd?dc=dc1&replication=dc1:3,dc2:3&timeout_ms=500&"
      "connect_timeout_ms=700");
  EXPECT_EQ(u.replication, "dc1:3,dc2:3");
  EXPECT_EQ(u.endpoint.request_timeout_ms, 500);
  EXPECT_EQ(u.endpoint.connect_timeout_ms, 700);
  EXPECT_EQ(ParseCassandraUrl("cassandra://h/k?replication=a:1%2Cb:2").replication, "a:1,b:2");
}

TEST(CassandraUrl, RefusesWhatItCannotMean) {
  for (const char* bad : {
           "cassandra://h",                      // no keyspace
           "cassandra:///k",                     // no host
           "cassandra://h,/k",                   // an empty host
           "cassandra://h/my-keyspace",          // not a CQL identifier
           "cassandra://h/k?dc=x'y",             // would be spliced into CQL
           "cassandra://h/k?replication=dc1",    // no factor
           "cassandra://h/k?replication=dc1:x",  // not a number
           "cassandra://h/k?replication=d'c:1",  // quote in a datacenter name
           "cassandra://h/k?timeout_ms=0",       // no time at all
           "cassandra://h/k?timeout_ms=soon",    // not a number
           "cassandra://h/k?consistency=ALL",    // unknown parameter
           "postgres://h/k",                     // another scheme
       }) {
    EXPECT_THROW(ParseCassandraUrl(bad), std::invalid_argument) << bad;
  }
}
