// The request-target parser against its reference, Boost.URL (parse_origin_form, then the
// decoded path and params(), first value of each name): the same answer for every target
// built from the characters that matter (delimiters, escapes good and bad, '+', bytes that
// are never allowed).
#include "http/target.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <map>
#include <random>

using imgd::http::ParseTarget;
using imgd::http::Target;

namespace {

std::optional<Target> Reference(std::string_view target) {
  auto r = boost::urls::parse_origin_form(target);
  if (!r) return std::nullopt;
  Target out;
  out.path = std::string(r->path());
  for (auto p : r->params()) out.query.emplace(std::string(p.key), std::string(p.value));
  return out;
}

void ExpectSame(const std::string& target) {
  const auto got = ParseTarget(target);
  const auto want = Reference(target);
  ASSERT_EQ(got.has_value(), want.has_value()) << target;
  if (!got) return;
  EXPECT_EQ(got->path, want->path) << target;
  EXPECT_EQ(got->query, want->query) << target;
}

}  // namespace

TEST(ParseTarget, AgreesWithBoostUrlOnTypicalTargets) {
  for (const char* t : {"/",
                        "/v1/images",
                        "/v1/images/0193-ab/content?w=300&q=80",
                        "/a%2Fb?x=%41&y",
                        "/a?",
                        "/a?&",
                        "/a?=",
                        "/a?a=1&a=2",
                        "/a?x=1+2%2B3",
                        "/a b",
                        "/a?b c",
                        "/a%zz",
                        "/a?%4",
                        "/a?x=%",
                        "*",
                        "",
                        "http://h/a",
                        "//a",
                        "/a#frag",
                        "/a?b#c",
                        "/%00?%00=%00",
                        "/a?b?c=/d",
                        "/é",
                        "/a\x01",
                        "/a?b=\x7f",
                        "/a?[x]",
                        "/a[b]"}) {
    ExpectSame(t);
  }
}

TEST(ParseTarget, AgreesWithBoostUrlOnGeneratedTargets) {
  const std::string valid = "/?&=%+aZ09-._~!$'()*,;:@";
  const std::string invalid = "#[] \"<>\\^`{|}\x01\x80\xff";
  const std::string hex = "0Af";
  std::mt19937 rng(20261130);
  int parsed = 0;
  for (int n = 0; n < 20000; ++n) {
    std::string t = rng() % 8 ? "/" : "";
    const int len = static_cast<int>(rng() % 24);
    for (int i = 0; i < len; ++i) {
      const char c = rng() % 16 ? valid[rng() % valid.size()] : invalid[rng() % invalid.size()];
      t += c;
      if (c == '%' && rng() % 2) {  // mostly well-formed escapes
        t += hex[rng() % hex.size()];
        t += hex[rng() % hex.size()];
      }
    }
    ExpectSame(t);
    parsed += ParseTarget(t).has_value();
  }
  EXPECT_GT(parsed, 5000);  // both outcomes are exercised
  EXPECT_LT(parsed, 15000);
}

// The warm lane's parse: where it accepts a target, it sees what ParseTarget decodes (the
// path, and each name's first value); it declines anything that needs decoding.
TEST(ParsePlainTarget, AgreesWithParseTargetWhereItAccepts) {
  const std::string chars = "/?&=%+aZ09-._~!$'()*,;:@#[] \"\x01\x80";
  std::mt19937 rng(20261201);
  int accepted = 0;
  for (int n = 0; n < 20000; ++n) {
    std::string t = rng() % 8 ? "/" : "";
    const int len = static_cast<int>(rng() % 24);
    for (int i = 0; i < len; ++i) t += chars[rng() % (rng() % 4 ? 24 : chars.size())];
    imgd::http::PlainTarget plain;
    if (!imgd::http::ParsePlainTarget(t, plain)) {
      EXPECT_TRUE(t.find_first_of("%+") != std::string::npos || !ParseTarget(t) ||
                  std::count(t.begin(), t.end(), '&') >= 8)
          << t;
      continue;
    }
    ++accepted;
    const auto full = ParseTarget(t);
    ASSERT_TRUE(full) << t;
    EXPECT_EQ(full->path, plain.path) << t;
    std::map<std::string, std::string> first;
    for (size_t i = 0; i < plain.param_count; ++i) {
      first.emplace(std::string(plain.params[i].first), std::string(plain.params[i].second));
    }
    EXPECT_EQ(full->query, first) << t;
  }
  EXPECT_GT(accepted, 3000);
}
