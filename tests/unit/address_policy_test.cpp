// The imageUrl address policy (SSRF guard) as a pure function: no packet is sent.
#include "net/address_policy.h"

#include <gtest/gtest.h>

using namespace imgd;
namespace ip = boost::asio::ip;

namespace {

std::string Refusal(const AddressPolicy& p, const char* address, uint16_t port = 80) {
  return p.Refusal(ip::make_address(address), port);
}

TEST(AddressPolicy, RefusesEverySpecialRange) {
  AddressPolicy policy;
  const char* refused[] = {
      // IPv4
      "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254",
      "127.0.0.1", "127.255.255.254", "169.254.169.254", "169.254.0.1", "172.16.0.1",
      "172.31.255.255", "192.0.0.8", "192.0.2.1", "192.88.99.1", "192.168.0.1", "192.168.255.255",
      "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250",
      "240.0.0.1", "255.255.255.255",
      // IPv6
      "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "ff02::1", "ff05::2",
      "2001:db8::1", "100::1", "2001::1", "::7f00:1",
      // IPv4 inside IPv6: mapped, NAT64, 6to4
      "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::ffff:192.168.1.1",
      "::ffff:0.0.0.0", "64:ff9b::a00:1", "64:ff9b::7f00:1", "2002:c0a8:101::1", "2002:7f00:1::"};
  for (const char* a : refused) {
    EXPECT_FALSE(Refusal(policy, a).empty()) << a << " must be refused";
    EXPECT_FALSE(SpecialRange(ip::make_address(a)).empty()) << a;
  }
}

TEST(AddressPolicy, AllowsPublicUnicast) {
  AddressPolicy policy;
  const char* allowed[] = {
      "8.8.8.8",        "1.1.1.1",        "93.184.216.34",    "100.63.255.255",  "100.128.0.0",
      "172.15.255.255", "172.32.0.0",     "192.167.255.255",  "223.255.255.255", "2606:4700::1111",
      "2a00:1450::1",   "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"};
  for (const char* a : allowed) {
    EXPECT_EQ(Refusal(policy, a), "") << a << " must be allowed";
  }
}

TEST(AddressPolicy, AllowListOpensExactlyWhatItNames) {
  AddressPolicy policy(
      AddressPolicy::ParseAllowList("127.0.0.1:8081,10.1.0.0/16,[::1]:9000,[fd00::]/8"));
  EXPECT_EQ(Refusal(policy, "127.0.0.1", 8081), "");
  EXPECT_NE(Refusal(policy, "127.0.0.1", 8082), "");  // another port of the same host
  EXPECT_NE(Refusal(policy, "127.0.0.2", 8081), "");
  EXPECT_EQ(Refusal(policy, "::ffff:127.0.0.1", 8081), "");  // mapped form of an allowed one
  EXPECT_EQ(Refusal(policy, "10.1.200.3", 1), "");
  EXPECT_NE(Refusal(policy, "10.2.0.1", 1), "");
  EXPECT_EQ(Refusal(policy, "::1", 9000), "");
  EXPECT_NE(Refusal(policy, "::1", 9001), "");
  EXPECT_EQ(Refusal(policy, "fd99::5", 443), "");
  EXPECT_NE(Refusal(policy, "fe80::1", 443), "");
  for (const char* bad : {"nonsense", "10.0.0.0/33", "127.0.0.1:0", "[::1", "1.2.3.4:99999"}) {
    EXPECT_THROW(AddressPolicy::ParseAllowList(bad), std::invalid_argument) << bad;
  }
  EXPECT_TRUE(AddressPolicy::ParseAllowList("").empty());
}

}  // namespace
