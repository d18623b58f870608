#include "net/address_policy.h"

#include <array>
#include <charconv>
#include <stdexcept>

namespace imgd {
namespace ip = boost::asio::ip;
namespace {

bool InV4(uint32_t a, uint32_t n, int prefix) {
  uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return (a & mask) == (n & mask);
}

bool InV4(uint32_t a, const char* net, int prefix) {
  return InV4(a, ip::make_address_v4(net).to_uint(), prefix);
}

bool InV6(const ip::address_v6::bytes_type& a, const ip::address_v6::bytes_type& n, int prefix) {
  for (int i = 0; i < 16 && prefix > 0; ++i, prefix -= 8) {
    unsigned mask = prefix >= 8 ? 0xffu : (0xffu << (8 - prefix)) & 0xffu;
    if ((a[i] & mask) != (n[i] & mask)) return false;
  }
  return true;
}

bool InV6(const ip::address_v6::bytes_type& a, const char* net, int prefix) {
  return InV6(a, ip::make_address_v6(net).to_bytes(), prefix);
}

ip::address_v4 V4At(const ip::address_v6::bytes_type& b, int offset) {
  return ip::address_v4({b[offset], b[offset + 1], b[offset + 2], b[offset + 3]});
}

std::string_view SpecialV4(const ip::address_v4& address) {
  struct Range {
    const char* net;
    int prefix;
    std::string_view name;
  };
  static const Range kRanges[] = {
      {"0.0.0.0", 8, "this-network"},       {"10.0.0.0", 8, "private"},
      {"100.64.0.0", 10, "shared-cgnat"},   {"127.0.0.0", 8, "loopback"},
      {"169.254.0.0", 16, "link-local"},    {"172.16.0.0", 12, "private"},
      {"192.0.0.0", 24, "ietf-protocol"},   {"192.0.2.0", 24, "documentation"},
      {"192.88.99.0", 24, "6to4-relay"},    {"192.168.0.0", 16, "private"},
      {"198.18.0.0", 15, "benchmarking"},   {"198.51.100.0", 24, "documentation"},
      {"203.0.113.0", 24, "documentation"}, {"224.0.0.0", 4, "multicast"},
      {"240.0.0.0", 4, "reserved"},
  };
  const uint32_t a = address.to_uint();
  for (const auto& r : kRanges) {
    if (InV4(a, r.net, r.prefix)) return r.name;
  }
  return "";
}

// An IPv6 address that stands for an IPv4 one (mapped, NAT64, 6to4) → that IPv4 address.
std::optional<ip::address_v4> EmbeddedV4(const ip::address_v6& a) {
  if (a.is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a);
  const auto b = a.to_bytes();
  if (InV6(b, "64:ff9b::", 96) || InV6(b, "64:ff9b:1::", 48)) return V4At(b, 12);
  if (InV6(b, "2002::", 16)) return V4At(b, 2);
  return std::nullopt;
}

ip::address Normalise(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  }
  return a;
}

}  // namespace

std::string_view SpecialRange(const ip::address& address) {
  if (address.is_v4()) return SpecialV4(address.to_v4());
  const ip::address_v6 a = address.to_v6();
  if (auto v4 = EmbeddedV4(a)) return SpecialV4(*v4);
  const auto b = a.to_bytes();
  struct Range {
    const char* net;
    int prefix;
    std::string_view name;
  };
  static const Range kRanges[] = {
      {"::", 128, "unspecified"},    {"::1", 128, "loopback"},
      {"::", 96, "ipv4-compatible"}, {"100::", 64, "discard"},
      {"2001::", 32, "teredo"},      {"2001:db8::", 32, "documentation"},
      {"2001:10::", 28, "orchid"},   {"2001:20::", 28, "orchid"},
      {"fc00::", 7, "unique-local"}, {"fe80::", 10, "link-local"},
      {"fec0::", 10, "site-local"},  {"ff00::", 8, "multicast"},
  };
  for (const auto& r : kRanges) {
    if (InV6(b, r.net, r.prefix)) return r.name;
  }
  return "";
}

std::vector<AddressPolicy::Rule> AddressPolicy::ParseAllowList(std::string_view spec) {
  std::vector<Rule> rules;
  while (!spec.empty()) {
    size_t comma = spec.find(',');
    std::string item(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (item.empty()) continue;
    Rule rule;
    std::string addr = item;
    std::string port;
    if (item.front() == '[') {  // [v6]/prefix:port or [v6]:port
      size_t close = item.find(']');
      if (close == std::string::npos) throw std::invalid_argument("bad allow rule: " + item);
      addr = item.substr(1, close - 1);
      std::string rest = item.substr(close + 1);
      size_t colon = rest.find(':');
      if (colon != std::string::npos) {
        port = rest.substr(colon + 1);
        rest = rest.substr(0, colon);
      }
      addr += rest;  // "/prefix" if any
    } else if (item.find('.') != std::string::npos && item.find(':') != std::string::npos) {
      size_t colon = item.rfind(':');  // IPv4 with a port
      addr = item.substr(0, colon);
      port = item.substr(colon + 1);
    }
    std::string net = addr;
    int max_prefix = 0;
    size_t slash = addr.find('/');
    if (slash != std::string::npos) net = addr.substr(0, slash);
    boost::system::error_code ec;
    rule.network = Normalise(ip::make_address(net, ec));
    if (ec) throw std::invalid_argument("bad address in allow rule: " + item);
    max_prefix = rule.network.is_v4() ? 32 : 128;
    rule.prefix = max_prefix;
    if (slash != std::string::npos) {
      std::string p = addr.substr(slash + 1);
      auto [end, pec] = std::from_chars(p.data(), p.data() + p.size(), rule.prefix);
      if (pec != std::errc() || end != p.data() + p.size() || rule.prefix < 0 ||
          rule.prefix > max_prefix) {
        throw std::invalid_argument("bad prefix in allow rule: " + item);
      }
    }
    if (!port.empty()) {
      uint16_t n = 0;
      auto [end, pec] = std::from_chars(port.data(), port.data() + port.size(), n);
      if (pec != std::errc() || end != port.data() + port.size() || n == 0) {
        throw std::invalid_argument("bad port in allow rule: " + item);
      }
      rule.port = n;
    }
    rules.push_back(rule);
  }
  return rules;
}

std::string AddressPolicy::Refusal(const ip::address& address, uint16_t port) const {
  const std::string_view range = SpecialRange(address);
  if (range.empty()) return "";
  const ip::address a = Normalise(address);
  for (const Rule& r : allow_) {
    if (r.port && *r.port != port) continue;
    if (a.is_v4() && r.network.is_v4() &&
        InV4(a.to_v4().to_uint(), r.network.to_v4().to_uint(), r.prefix)) {
      return "";
    }
    if (a.is_v6() && r.network.is_v6() &&
        InV6(a.to_v6().to_bytes(), r.network.to_v6().to_bytes(), r.prefix)) {
      return "";
    }
  }
  return "address " + address.to_string() + " is in a " + std::string(range) +
         " range; imgd does not fetch from it";
}

}  // namespace imgd
