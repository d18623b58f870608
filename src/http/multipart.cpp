#include "http/multipart.h"

#include <algorithm>
#include <cctype>

#include "core/errors.h"

namespace imgd::http {
namespace {

constexpr size_t kMaxHeaderBlock = 16 * 1024;
constexpr size_t kMaxPreamble = 64 * 1024;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Value of parameter `key` in "type; a=b; key="v"" (quoted or token), or nullopt.
std::optional<std::string> HeaderParam(std::string_view value, std::string_view key) {
  size_t i = value.find(';');
  while (i != std::string_view::npos) {
    ++i;
    size_t eq = value.find('=', i);
    if (eq == std::string_view::npos) return std::nullopt;
    std::string name = Lower(Trim(value.substr(i, eq - i)));
    size_t j = eq + 1;
    while (j < value.size() && value[j] == ' ') ++j;
    std::string v;
    if (j < value.size() && value[j] == '"') {
      ++j;
      while (j < value.size() && value[j] != '"') {
        if (value[j] == '\\' && j + 1 < value.size()) ++j;
        v += value[j++];
      }
      i = value.find(';', j);
    } else {
      size_t end = value.find(';', j);
      v = std::string(Trim(value.substr(j, end == std::string_view::npos ? end : end - j)));
      i = end;
    }
    if (name == key) return v;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> MultipartBoundary(std::string_view content_type) {
  auto semi = content_type.find(';');
  if (Lower(Trim(content_type.substr(0, semi))) != "multipart/form-data") return std::nullopt;
  auto b = HeaderParam(content_type, "boundary");
  if (!b || b->empty() || b->size() > 70) return std::nullopt;
  return b;
}

MultipartParser::MultipartParser(std::string boundary, Callbacks cb)
    : delimiter_("\r\n--" + boundary), cb_(std::move(cb)) {
  // The first delimiter may come without a preceding CRLF: pretend there was one.
  buf_ = "\r\n";
}

void MultipartParser::Feed(std::span<const char> data) {
  if (state_ == State::kEpilogue) return;
  buf_.append(data.data(), data.size());
  Process();
}

void MultipartParser::Process() {
  size_t pos = 0;  // consumed prefix of buf_
  for (;;) {
    std::string_view rest(buf_.data() + pos, buf_.size() - pos);
    if (state_ == State::kPreamble) {
      auto d = rest.find(delimiter_);
      if (d == std::string_view::npos) {
        size_t keep = std::min(rest.size(), delimiter_.size() - 1);
        preamble_seen_ += rest.size() - keep;
        if (preamble_seen_ > kMaxPreamble) throw BadRequest("multipart body has no boundary");
        pos += rest.size() - keep;
        break;
      }
      pos += d + delimiter_.size();
      state_ = State::kAfterDelimiter;
    } else if (state_ == State::kAfterDelimiter) {
      if (rest.size() < 2) break;
      if (rest.substr(0, 2) == "--") {
        state_ = State::kEpilogue;
        pos = buf_.size();
        break;
      }
      // Transport padding (spaces/tabs) may follow the boundary before CRLF.
      auto crlf = rest.find("\r\n");
      if (crlf == std::string_view::npos) {
        if (rest.size() > 256) throw BadRequest("malformed multipart boundary line");
        break;
      }
      if (!Trim(rest.substr(0, crlf)).empty()) throw BadRequest("malformed multipart boundary");
      pos += crlf + 2;
      state_ = State::kHeaders;
    } else if (state_ == State::kHeaders) {
      auto end = rest.find("\r\n\r\n");
      bool empty_headers = rest.substr(0, 2) == "\r\n";
      if (empty_headers) {
        ParseHeaders({});
        pos += 2;
        state_ = State::kBody;
        continue;
      }
      if (end == std::string_view::npos) {
        if (rest.size() > kMaxHeaderBlock) throw BadRequest("multipart part headers too large");
        break;
      }
      ParseHeaders(rest.substr(0, end));
      pos += end + 4;
      state_ = State::kBody;
    } else if (state_ == State::kBody) {
      auto d = rest.find(delimiter_);
      if (d == std::string_view::npos) {
        size_t keep = std::min(rest.size(), delimiter_.size() - 1);
        size_t emit = rest.size() - keep;
        if (emit > 0 && cb_.on_part_data) cb_.on_part_data({rest.data(), emit});
        pos += emit;
        break;
      }
      if (d > 0 && cb_.on_part_data) cb_.on_part_data({rest.data(), d});
      if (cb_.on_part_end) cb_.on_part_end();
      pos += d + delimiter_.size();
      state_ = State::kAfterDelimiter;
    } else {
      pos = buf_.size();
      break;
    }
  }
  buf_.erase(0, pos);
}

void MultipartParser::ParseHeaders(std::string_view block) {
  PartInfo info;
  bool has_disposition = false;
  while (!block.empty()) {
    auto eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) throw BadRequest("malformed multipart part header");
    std::string name = Lower(Trim(line.substr(0, colon)));
    std::string_view value = Trim(line.substr(colon + 1));
    if (name == "content-disposition") {
      auto semi = value.find(';');
      if (Lower(Trim(value.substr(0, semi))) != "form-data") {
        throw BadRequest("multipart part is not form-data");
      }
      has_disposition = true;
      info.name = HeaderParam(value, "name").value_or("");
      info.filename = HeaderParam(value, "filename").value_or("");
    } else if (name == "content-type") {
      info.content_type = std::string(value);
    }
  }
  if (!has_disposition || info.name.empty()) {
    throw BadRequest("multipart part without a Content-Disposition name");
  }
  if (cb_.on_part_begin) cb_.on_part_begin(info);
}

}  // namespace imgd::http
