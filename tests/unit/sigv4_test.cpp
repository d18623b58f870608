// AWS Signature V4 against published test vectors: the SigV4 test suite (AKIDEXAMPLE,
// service "service") and the S3 API reference examples (examplebucket, 2013-05-24).
#include "blob/sigv4.h"

#include <gtest/gtest.h>

#include "core/hash.h"

using namespace imgd;

namespace {

const SigV4Credentials kSuite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                              "us-east-1", "service"};
const SigV4Credentials kS3Doc{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                              "us-east-1", "s3"};
const std::string kEmpty = Sha256Hex("");

SigV4Request Suite(const std::string& method,
                   std::vector<std::pair<std::string, std::string>> query = {}) {
  return {method,
          "/",
          std::move(query),
          {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}},
          kEmpty};
}

TEST(SigV4, TestSuiteVectors) {
  EXPECT_EQ(SigV4Authorization(Suite("GET"), kSuite, "20150830T123600Z"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(SigV4Signature(Suite("POST"), kSuite, "20150830T123600Z"),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  // get-vanilla-query-order-key-case: parameters sorted.
  EXPECT_EQ(SigV4Signature(Suite("GET", {{"Param2", "value2"}, {"Param1", "value1"}}), kSuite,
                           "20150830T123600Z"),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
  // get-unreserved: unreserved characters in the path stay as they are.
  SigV4Request unreserved = Suite("GET");
  unreserved.canonical_uri =
      "/" + UriEncode("-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", false);
  EXPECT_EQ(SigV4Signature(unreserved, kSuite, "20150830T123600Z"),
            "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
  // get-vanilla-utf8-query: UTF-8 keys are percent-encoded.
  EXPECT_EQ(SigV4Signature(Suite("GET", {{"\xe1\x88\xb4", "bar"}}), kSuite, "20150830T123600Z"),
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04");
}

TEST(SigV4, S3DocumentationExamples) {
  const std::string host = "examplebucket.s3.amazonaws.com";
  const std::string date = "20130524T000000Z";
  // GET Object with a Range header.
  SigV4Request get{"GET",
                   "/test.txt",
                   {},
                   {{"Host", host},
                    {"Range", "bytes=0-9"},
                    {"x-amz-content-sha256", kEmpty},
                    {"x-amz-date", date}},
                   kEmpty};
  EXPECT_EQ(SigV4Authorization(get, kS3Doc, date),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  // PUT Object: the key is encoded once ($ → %24), the payload hash is signed.
  const std::string payload = Sha256Hex("Welcome to Amazon S3.");
  SigV4Request put{"PUT",
                   "/" + UriEncode("test$file.text", false),
                   {},
                   {{"Host", host},
                    {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                    {"x-amz-date", date},
                    {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                    {"x-amz-content-sha256", payload}},
                   payload};
  EXPECT_EQ(SigV4Signature(put, kS3Doc, date),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  // GET Bucket lifecycle (a value-less parameter) and list objects (parameters sorted).
  SigV4Request lifecycle{"GET",
                         "/",
                         {{"lifecycle", ""}},
                         {{"Host", host}, {"x-amz-content-sha256", kEmpty}, {"x-amz-date", date}},
                         kEmpty};
  EXPECT_EQ(SigV4Signature(lifecycle, kS3Doc, date),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
  SigV4Request list = lifecycle;
  list.query = {{"prefix", "J"}, {"max-keys", "2"}};
  EXPECT_EQ(SigV4Signature(list, kS3Doc, date),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
  // Pre-signed GET, valid 24 h.
  SigV4Request presign{"GET", "/test.txt", {}, {{"Host", host}}, ""};
  EXPECT_EQ(SigV4PresignQuery(presign, kS3Doc, date, 86400),
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
            "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
            "X-Amz-SignedHeaders=host&X-Amz-Signature="
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(SigV4, EncodingAndDates) {
  EXPECT_EQ(UriEncode("a b/c+d~e", false), "a%20b/c%2Bd~e");
  EXPECT_EQ(UriEncode("a b/c", true), "a%20b%2Fc");
  EXPECT_EQ(AmzDate(1369353600), "20130524T000000Z");
  EXPECT_EQ(CanonicalQuery({{"b", "2"}, {"a", "x y"}, {"a", "1"}}), "a=1&a=x%20y&b=2");
}

}  // namespace
