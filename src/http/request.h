#pragma once
// Everything a handler sees of one request.
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <map>
#include <string>
#include <unordered_map>

#include "core/chunk_source.h"
#include "http/trace_context.h"

namespace imgd::http {

struct RequestContext {
  const boost::beast::http::request_header<>& header;
  std::string path;                                     // percent-decoded path
  std::map<std::string, std::string> query;             // first value of each parameter
  std::unordered_map<std::string, std::string> params;  // from the route pattern
  std::string request_id;
  std::string client_ip;
  bool head = false;  // a HEAD request served by a GET route
  ChunkSource& body;
  // Set by handlers once the caller is known, for the access log.
  std::string user_id;
  // This request's W3C trace (continued from its traceparent, or new).
  TraceContext trace;

  std::string Header(boost::beast::http::field f) const {
    auto it = header.find(f);
    return it == header.end() ? std::string() : std::string(it->value());
  }
  std::string Header(std::string_view name) const {
    auto it = header.find(name);
    return it == header.end() ? std::string() : std::string(it->value());
  }
  const std::string* Query(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? nullptr : &it->second;
  }
};

}  // namespace imgd::http
