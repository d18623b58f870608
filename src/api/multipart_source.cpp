#include "api/multipart_source.h"

#include "core/errors.h"

namespace imgd::api {
namespace {
constexpr size_t kMaxFieldBytes = 64 * 1024;
constexpr size_t kMaxFields = 32;
}  // namespace

MultipartFileSource::MultipartFileSource(ChunkSource& body, std::string boundary)
    : body_(body),
      parser_(std::move(boundary),
              http::MultipartParser::Callbacks{[this](const http::PartInfo& p) {
                                                 if (p.name == "file") {
                                                   if (file_seen_)
                                                     throw BadRequest("more than one 'file' part");
                                                   file_seen_ = in_file_ = true;
                                                 } else {
                                                   if (fields_.size() >= kMaxFields)
                                                     throw BadRequest("too many form fields");
                                                   field_name_ = p.name;
                                                   fields_[field_name_];
                                                 }
                                               },
                                               [this](std::span<const char> d) {
                                                 if (in_file_) {
                                                   out_.insert(out_.end(), d.begin(), d.end());
                                                   return;
                                                 }
                                                 auto& v = fields_[field_name_];
                                                 if (v.size() + d.size() > kMaxFieldBytes) {
                                                   throw BadRequest("form field '" + field_name_ +
                                                                    "' is too large");
                                                 }
                                                 v.append(d.data(), d.size());
                                               },
                                               [this] { in_file_ = false; }}) {}

boost::asio::awaitable<std::span<const char>> MultipartFileSource::Next() {
  out_.clear();
  while (out_.empty()) {
    if (finished_) co_return std::span<const char>();
    auto raw = co_await body_.Next();
    if (raw.empty()) {
      if (!parser_.done()) throw BadRequest("multipart body ended before its closing boundary");
      if (!file_seen_) throw BadRequest("multipart body has no 'file' part", "missing-file");
      finished_ = true;
      co_return std::span<const char>();
    }
    parser_.Feed(raw);
  }
  current_.swap(out_);
  co_return std::span<const char>(current_.data(), current_.size());
}

}  // namespace imgd::api
