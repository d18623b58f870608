#pragma once
// Where imgd may connect when it fetches a URL on a user's behalf (SSRF defence). Every
// resolved address, and every redirect's, is checked here before a packet is sent: special
// ranges (loopback, private, link-local, CGNAT, multicast, unspecified, documentation,
// reserved; IPv6 forms that embed an IPv4 address are judged by that address) are refused
// unless an allow-list rule names them.
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imgd {

// The special range address falls in ("loopback", "private", ...), or "" when it is an
// ordinary public unicast address.
std::string_view SpecialRange(const boost::asio::ip::address& address);

class AddressPolicy {
 public:
  struct Rule {
    boost::asio::ip::address network;  // IPv4-mapped addresses are stored as IPv4
    int prefix = 0;                    // bits
    std::optional<uint16_t> port;      // any port when unset
  };
  explicit AddressPolicy(std::vector<Rule> allow = {}) : allow_(std::move(allow)) {}

  // "127.0.0.1:8080,10.0.0.0/8,[::1]:9000,[fd00::]/8" → rules; an IPv6 rule with a port
  // needs brackets. Throws std::invalid_argument when malformed.
  static std::vector<Rule> ParseAllowList(std::string_view spec);

  // Why connecting to address:port is refused; "" when it is allowed.
  std::string Refusal(const boost::asio::ip::address& address, uint16_t port) const;

 private:
  std::vector<Rule> allow_;
};

}  // namespace imgd
