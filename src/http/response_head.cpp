#include "http/response_head.h"

#include <boost/beast/http/field.hpp>
#include <cstring>

namespace imgd::http {

namespace bhttp = boost::beast::http;

std::string ResponseHead(bhttp::status status, const bhttp::fields& fields,
                         std::optional<uint64_t> content_length, bool keep_alive) {
  std::string out;
  out.reserve(512);
  out += "HTTP/1.1 ";
  out += std::to_string(static_cast<unsigned>(status));
  out += ' ';
  const auto reason = bhttp::obsolete_reason(status);
  out.append(reason.data(), reason.size());
  out += "\r\n";
  for (const auto& f : fields) {
    const auto name = f.name_string();
    const auto value = f.value();
    out.append(name.data(), name.size());
    out += ": ";
    if (!std::memchr(value.data(), '\r', value.size()) &&
        !std::memchr(value.data(), '\n', value.size())) {
      out.append(value.data(), value.size());  // the usual case: two vector scans, one copy
    } else {
      for (char c : value) {
        if (c != '\r' && c != '\n') out += c;
      }
    }
    out += "\r\n";
  }
  if (content_length) {
    out += "Content-Length: ";
    out += std::to_string(*content_length);
    out += "\r\n";
  }
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  return out;
}

}  // namespace imgd::http
