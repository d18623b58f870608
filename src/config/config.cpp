#include "config/config.h"

#include <charconv>
#include <filesystem>
#include <stdexcept>

#include "core/url_signer.h"
#include "image/transform_spec.h"
#include "net/address_policy.h"
#include "net/purge_client.h"

namespace imgd {

std::vector<std::string> Config::EdgePurgeUrls() const {
  std::vector<std::string> out;
  std::string item;
  for (char c : edge_purge_urls + ",") {
    if (c != ',') {
      if (c != ' ') item += c;
      continue;
    }
    if (!item.empty()) out.push_back(item);
    item.clear();
  }
  return out;
}

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
  if (variant_file_dir.empty()) variant_file_dir = data;
  if (public_base_url.empty()) public_base_url = Scheme() + "://" + bound_listen;
  while (!public_base_url.empty() && public_base_url.back() == '/') public_base_url.pop_back();
}

void Config::Validate() const {
  if (tls_cert.empty() != tls_key.empty()) {
    throw std::invalid_argument("--tls-cert and --tls-key go together");
  }
  if (only_allowed_sizes && ParseSizeList(allowed_sizes).empty()) {  // throws when malformed
    throw std::invalid_argument("--only-allowed-sizes needs --allowed-sizes");
  }
  if (!only_allowed_sizes) ParseSizeList(allowed_sizes);
  if (!ParseHexColour(background)) {
    throw std::invalid_argument("--background must be 6 hex digits (RRGGBB)");
  }
  UrlSigner::ParseKeys(upload_signing_keys);  // throw on malformed key lists
  UrlSigner::ParseKeys(delivery_signing_keys);
  AddressPolicy::ParseAllowList(fetch_allow);
  for (const auto& entry : EdgePurgeUrls()) ParsePurgeEdge(entry);  // throws when malformed
  std::string host;
  unsigned short port = 0;
  SplitHostPort(listen, host, port);
}

}  // namespace imgd
