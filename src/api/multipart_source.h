#pragma once
// Adapts a multipart/form-data request body into the bytes of its `file` part (streamed),
// collecting the small text fields (imageName, imageDescription) on the way.
#include <map>
#include <string>
#include <vector>

#include "core/chunk_source.h"
#include "http/multipart.h"

namespace imgd::api {

class MultipartFileSource final : public ChunkSource {
 public:
  MultipartFileSource(ChunkSource& body, std::string boundary);
  boost::asio::awaitable<std::span<const char>> Next() override;
  // Text fields seen so far (all of them once Next() returned the end).
  const std::map<std::string, std::string>& fields() const { return fields_; }

 private:
  ChunkSource& body_;
  http::MultipartParser parser_;
  std::vector<char> out_, current_;
  std::string field_name_;  // the text field being read, when not in the file part
  bool in_file_ = false;
  bool file_seen_ = false;
  bool finished_ = false;
  std::map<std::string, std::string> fields_;
};

}  // namespace imgd::api
