// imgd-cql URL STATEMENT: runs one CQL statement against the cluster of a cassandra:// URL
// (as imgd's --meta takes it) and prints the rows tab-separated, NULL as an empty field.
// "{ks}" in the statement is the URL's keyspace. For test assertions, as psql is for
// PostgreSQL; not installed with imgd.
#include <iostream>
#include <string>

#include "meta/cassandra_meta_store.h"
#include "meta/cql_session.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: imgd-cql cassandra://HOST:PORT/KEYSPACE?dc=DC 'STATEMENT'\n";
    return 2;
  }
  try {
    const imgd::CassandraUrl url = imgd::ParseCassandraUrl(argv[1]);
    std::string statement = argv[2];
    for (size_t at = statement.find("{ks}"); at != std::string::npos;
         at = statement.find("{ks}", at)) {
      statement.replace(at, 4, url.keyspace);
    }
    imgd::CqlSession cql(url.endpoint);
    const imgd::CqlRows rows = cql.Run(statement, {});
    for (size_t r = 0; r < rows.size(); ++r) {
      for (size_t c = 0; c < rows.columns(); ++c) {
        if (c) std::cout << '\t';
        if (rows.IsNull(r, c)) continue;
        if (rows.IsText(r, c)) {
          std::cout << rows.Text(r, c);
        } else {
          std::cout << rows.Int(r, c);
        }
      }
      std::cout << '\n';
    }
  } catch (const std::exception& e) {
    std::cerr << "imgd-cql: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
