#pragma once
// Reading small JSON request bodies with clear 400s.
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "core/chunk_source.h"

namespace imgd::api {

// Reads the whole body (at most max_bytes, else 413) and parses a JSON object (else 400).
boost::asio::awaitable<boost::json::object> ReadJsonObject(ChunkSource& body,
                                                           size_t max_bytes = 64 * 1024);

// A string member or nullopt when absent; 400 when present with another type.
std::optional<std::string> OptionalString(const boost::json::object& o, const char* key);

}  // namespace imgd::api
