#!/usr/bin/env bash
# Apache Cassandra for the tests: cassandra-all and its dependencies from Maven Central
# (tests/engines/cassandra/pom.xml, versions pinned there) into a cache outside the source
# tree, once. Prints the lib folder. Installs Java 17 and Maven from Debian when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
POM="$ROOT/tests/engines/cassandra/pom.xml"
VERSION="$(sed -n 's:.*<cassandra.version>\(.*\)</cassandra.version>.*:\1:p' "$POM")"
LIB="${IMGD_CASSANDRA_LIB:-${XDG_CACHE_HOME:-$HOME/.cache}/imgd/cassandra-$VERSION/lib}"
# Java 17 and Maven from Debian when the machine has none.
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
if [ -f "$LIB/.complete" ]; then
  echo "$LIB"
  exit 0
fi
echo "install-cassandra: resolving cassandra-all $VERSION into $LIB" >&2
rm -rf "$LIB"
mkdir -p "$LIB"
mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIB" >&2
ls "$LIB"/cassandra-all-*.jar "$LIB"/jamm-*.jar >/dev/null
touch "$LIB/.complete"
echo "$LIB"
