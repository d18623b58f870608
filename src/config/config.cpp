#include "config/config.h"

#include <charconv>
#include <filesystem>
#include <stdexcept>

namespace imgd {

void SplitHostPort(const std::string& listen, std::string& host, unsigned short& port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw std::invalid_argument("--listen must be HOST:PORT, got '" + listen + "'");
  }
  host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string p = listen.substr(colon + 1);
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || ptr != p.data() + p.size() || v > 65535) {
    throw std::invalid_argument("invalid port in --listen '" + listen + "'");
  }
  port = static_cast<unsigned short>(v);
}

void Config::Finalize(const std::string& bound_listen) {
  std::string data = std::filesystem::absolute(data_dir).lexically_normal().string();
  if (meta_url.empty()) meta_url = "sqlite://" + data + "/imgd.db";
  if (blob_url.empty()) blob_url = "file://" + data + "/blobs";
  if (public_base_url.empty()) public_base_url = Scheme() + "://" + bound_listen;
  while (!public_base_url.empty() && public_base_url.back() == '/') public_base_url.pop_back();
}

}  // namespace imgd
