#include "http/response_head.h"

#include <boost/beast/http/field.hpp>
#include <charconv>
#include <cstring>

namespace imgd::http {

namespace bhttp = boost::beast::http;

void AppendStatusLine(std::string& out, bhttp::status status) {
  char code[8];
  auto [end, ec] = std::to_chars(code, code + sizeof code, static_cast<unsigned>(status));
  out += "HTTP/1.1 ";
  out.append(code, end);
  out += ' ';
  const auto reason = bhttp::obsolete_reason(status);
  out.append(reason.data(), reason.size());
  out += "\r\n";
}

void AppendHeaderLine(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  if (!std::memchr(value.data(), '\r', value.size()) &&
      !std::memchr(value.data(), '\n', value.size())) {
    out += value;  // the usual case: two vector scans, one copy
  } else {
    for (char c : value) {
      if (c != '\r' && c != '\n') out += c;
    }
  }
  out += "\r\n";
}

void AppendHeadEnd(std::string& out, std::optional<uint64_t> content_length, bool keep_alive) {
  if (content_length) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, *content_length);
    out += "Content-Length: ";
    out.append(digits, end);
    out += "\r\n";
  }
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
}

std::string ResponseHead(bhttp::status status, const bhttp::fields& fields,
                         std::optional<uint64_t> content_length, bool keep_alive) {
  std::string out;
  out.reserve(512);
  AppendStatusLine(out, status);
  for (const auto& f : fields) {
    const auto name = f.name_string();
    const auto value = f.value();
    AppendHeaderLine(out, std::string_view(name.data(), name.size()),
                     std::string_view(value.data(), value.size()));
  }
  AppendHeadEnd(out, content_length, keep_alive);
  return out;
}

}  // namespace imgd::http
