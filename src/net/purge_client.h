#pragma once
// Sends one surrogate-key purge to an edge: PURGE / with the keys in xkey-purge (and
// Surrogate-Key) and the token in X-Purge-Token, over plain HTTP on the operator's own
// network (the edges are configured, not user-supplied: no address policy applies).
// Blocking, with one deadline for connect, send and answer.
#include <chrono>
#include <string>

namespace imgd {

struct PurgeEndpoint {
  std::string host;
  std::string port;
  std::string target;  // the path, "/" when the URL has none
};

// http://host:port[/path]. Throws std::invalid_argument for anything else (https included:
// put a TLS terminator in front of the edge's purge listener if the path is untrusted).
PurgeEndpoint ParsePurgeUrl(const std::string& url);

struct PurgeEdge {
  std::string name;  // its identity in the outbox and in metrics
  PurgeEndpoint endpoint;
};
// An --edge-purge-urls entry: NAME=http://host:port, or the URL alone (named by itself).
// Throws std::invalid_argument as ParsePurgeUrl, or for an empty name.
PurgeEdge ParsePurgeEdge(const std::string& entry);

// The edge's HTTP status (200 = acknowledged). Throws std::runtime_error when the edge
// cannot be reached or does not answer before the deadline.
unsigned SendPurge(const PurgeEndpoint& edge, const std::string& keys, const std::string& token,
                   std::chrono::milliseconds timeout);

}  // namespace imgd
