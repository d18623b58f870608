// DeliveryService in process, on SQLite and a filesystem blob store: what a content read
// may see (signatures, visibility, the owner's key), what it costs (nothing is opened or
// made for a matching If-None-Match; a forged link is refused before any lookup), and a
// delete racing a variant read (404, not a store failure).
#include "service/delivery_service.h"

#include <gtest/gtest.h>

#include <boost/asio/thread_pool.hpp>
#include <span>

#include "blob/fs_blob_store.h"
#include "core/errors.h"
#include "image/vips_decode.h"
#include "meta/meta_store.h"
#include "run_to_end.h"
#include "service/publish_step.h"
#include "test_util.h"

namespace imgd {
namespace {

using testing::ReadCorpus;
using testing::RunToEnd;
using testing::TempDir;

class OneChunk final : public ChunkSource {
 public:
  explicit OneChunk(std::string bytes) : bytes_(std::move(bytes)) {}
  boost::asio::awaitable<std::span<const char>> Next() override {
    std::span<const char> piece(bytes_.data(), sent_ ? 0 : bytes_.size());
    sent_ = true;
    co_return piece;
  }

 private:
  std::string bytes_;
  bool sent_ = false;
};

// The code of the Error a read ends with; fails the test when it ends without one.
std::optional<ErrorCode> ReadFails(DeliveryService& delivery, ContentRequest request) {
  try {
    RunToEnd(delivery.Read(std::move(request)));
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "the read was served";
  return std::nullopt;
}

class DeliveryServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { VipsStartup("imgd_unit_tests"); }

  void SetUp() override {
    meta_ = OpenMetaStore("sqlite://" + (dir_.path() / "meta.db").string());
    meta_->Migrate();
    blobs_ = std::make_unique<FsBlobStore>(dir_.path() / "blobs");
    images_ = std::make_unique<ImageService>(*meta_, *meta_, *blobs_, locks_, pools_, metrics_,
                                             ImageServiceOptions{});
    publish_ = std::make_unique<PublishStep>(*meta_, *meta_, *meta_, *blobs_, locks_, pools_,
                                             metrics_, PublishOptions{});
    transforms_ =
        std::make_unique<TransformService>(*blobs_, pools_, metrics_, TransformServiceOptions{});
    ContentAccessOptions ao;
    ao.base_url = "http://imgd.test";
    ao.cache_control = "public, max-age=31536000, immutable";
    access_ = std::make_unique<ContentAccess>(signer_, ao);
    delivery_ = std::make_unique<DeliveryService>(*images_, *transforms_, *access_);
    owner_.id = "owner-1";
    other_.id = "other-1";
  }

  Image Upload(const std::string& visibility,
               const std::string& file = "real/real_01_skagen_800x533.jpg") {
    OneChunk body(ReadCorpus(file));
    UploadMeta meta;
    meta.visibility = visibility;
    return RunToEnd(publish_->StoreNew(owner_, body, meta)).image;
  }
  // A content request for the image's URL as the API hands it out (signed when needed),
  // with the extra query parameters.
  ContentRequest RequestFor(const std::string& url) {
    ContentRequest r;
    const size_t q = url.find('?');
    r.path = url.substr(16, q == std::string::npos ? std::string::npos : q - 16);
    r.image_id = r.path.substr(std::string("/v1/images/").size(), 36);
    if (q != std::string::npos) {
      std::string rest = url.substr(q + 1);
      while (!rest.empty()) {
        const size_t amp = rest.find('&');
        const std::string pair = rest.substr(0, amp);
        const size_t eq = pair.find('=');
        r.query[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
        rest = amp == std::string::npos ? "" : rest.substr(amp + 1);
      }
    }
    return r;
  }
  ContentRequest Unsigned(const Image& im, QueryParams query = {}) {
    ContentRequest r;
    r.image_id = im.id;
    r.path = ContentAccess::ContentPath(im.id);
    r.query = std::move(query);
    return r;
  }
  int Misses() {
    return Count(metrics_.Render(), "imgd_variant_cache_requests_total{result=\"miss\"}");
  }
  static int Count(const std::string& text, const std::string& series) {
    const size_t at = text.find(series + " ");
    return at == std::string::npos ? 0 : std::stoi(text.substr(at + series.size() + 1));
  }

  TempDir dir_;
  boost::asio::thread_pool blocking_{2}, cpu_{1};
  Pools pools_{blocking_, cpu_};
  Metrics metrics_;
  UrlSigner signer_{{{"k1", "a-secret-of-twenty-bytes"}}};
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<FsBlobStore> blobs_;
  BlobLocks locks_;
  std::unique_ptr<ImageService> images_;
  std::unique_ptr<PublishStep> publish_;
  std::unique_ptr<TransformService> transforms_;
  std::unique_ptr<ContentAccess> access_;
  std::unique_ptr<DeliveryService> delivery_;
  User owner_, other_;
};

TEST_F(DeliveryServiceTest, PublicOriginalIsOpenAndImmutable) {
  Image im = Upload(kVisibilityPublic);
  Delivery d = RunToEnd(delivery_->Read(Unsigned(im)));
  ASSERT_TRUE(d.bytes);
  EXPECT_EQ(d.bytes->size(), im.size);
  EXPECT_EQ(d.etag, "\"" + im.sha256 + "\"");
  EXPECT_EQ(d.cache_control, "public, max-age=31536000, immutable");
}

TEST_F(DeliveryServiceTest, MatchingIfNoneMatchMakesNoVariant) {
  Image im = Upload(kVisibilityPublic);
  ContentRequest first = Unsigned(im, {{"w", "100"}});
  Delivery made = RunToEnd(delivery_->Read(first));
  ASSERT_TRUE(made.bytes);
  const int before = Misses();
  ASSERT_GE(before, 1);  // the first read made it
  ContentRequest again = Unsigned(im, {{"w", "100"}});
  again.if_none_match = "W/" + made.etag;
  Delivery d = RunToEnd(delivery_->Read(again));
  EXPECT_FALSE(d.bytes);  // answered 304
  EXPECT_EQ(d.etag, made.etag);
  EXPECT_EQ(Misses(), before);
  ContentRequest original = Unsigned(im);
  original.if_none_match = "\"" + im.sha256 + "\"";
  EXPECT_FALSE(RunToEnd(delivery_->Read(original)).bytes);
}

// The warm path's read gives Read's answer (ETag, Cache-Control, the same bytes) once memory
// holds what it needs, and declines whatever memory alone cannot answer exactly.
TEST_F(DeliveryServiceTest, ReadFromMemoryAnswersAsReadOrDeclines) {
  Image im = Upload(kVisibilityPublic);
  using Params = std::vector<std::pair<std::string_view, std::string_view>>;
  auto from_memory = [this, &im](const Params& query, std::string_view inm, MemoryDelivery& d,
                                 std::string& etag, std::string_view accept = "") {
    return delivery_->ReadFromMemory(MemoryReadRequest{im.id, query, inm, accept}, d, etag);
  };
  MemoryDelivery d;
  std::string etag;
  EXPECT_FALSE(from_memory({{"w", "100"}}, "", d, etag));  // the record is not cached yet
  Delivery made = RunToEnd(delivery_->Read(Unsigned(im, {{"w", "100"}})));
  ASSERT_TRUE(made.bytes);
  ASSERT_TRUE(from_memory({{"w", "100"}}, "", d, etag));
  ASSERT_TRUE(d.bytes);
  EXPECT_EQ(*d.bytes, std::string(made.bytes->Contiguous(), made.bytes->size()));
  EXPECT_EQ(etag, made.etag);
  EXPECT_EQ(*d.cache_control, made.cache_control);
  EXPECT_STREQ(d.content_type, "image/jpeg");
  EXPECT_FALSE(d.vary_accept);
  // If-None-Match: a 304 (no bytes), for a variant never made too, and for the original.
  ASSERT_TRUE(from_memory({{"w", "100"}}, "W/" + made.etag, d, etag));
  EXPECT_FALSE(d.bytes);
  const std::string other_etag = TransformService::VariantEtag(im.sha256, [] {
    TransformSpec s;
    s.width = 77;
    return s;
  }());
  ASSERT_TRUE(from_memory({{"w", "77"}}, other_etag, d, etag));
  EXPECT_FALSE(d.bytes);
  ASSERT_TRUE(from_memory({}, "\"" + im.sha256 + "\"", d, etag));
  EXPECT_FALSE(d.bytes);
  // format=auto negotiates as Read does, and says the answer varies by Accept.
  Delivery webp = RunToEnd(delivery_->Read([&] {
    ContentRequest r = Unsigned(im, {{"w", "100"}, {"format", "auto"}});
    r.accept = "image/webp,*/*";
    return r;
  }()));
  ASSERT_TRUE(from_memory({{"w", "100"}, {"format", "auto"}}, "", d, etag, "image/webp,*/*"));
  EXPECT_EQ(etag, webp.etag);
  EXPECT_STREQ(d.content_type, "image/webp");
  EXPECT_TRUE(d.vary_accept);
  // Declined: a variant not in memory, an original's bytes, a signature, a parameter Read
  // refuses, a repeated name, and a private image.
  EXPECT_FALSE(from_memory({{"w", "120"}}, "", d, etag));
  EXPECT_FALSE(from_memory({}, "", d, etag));
  EXPECT_FALSE(from_memory({{"w", "100"}, {"sig", "x"}}, "", d, etag));
  EXPECT_FALSE(from_memory({{"w", "0"}}, "", d, etag));
  EXPECT_FALSE(from_memory({{"colour", "red"}}, "", d, etag));
  EXPECT_FALSE(from_memory({{"w", "100"}, {"w", "100"}}, "", d, etag));
  Image hidden = Upload(kVisibilityPrivate, "real/real_02_honeybee_1620x1280.jpg");
  RunToEnd(delivery_->Read(RequestFor(access_->Url(hidden, {{"w", "100"}}))));
  EXPECT_FALSE(delivery_->ReadFromMemory(MemoryReadRequest{hidden.id, Params{{"w", "100"}}, "", ""},
                                         d, etag));
}

TEST_F(DeliveryServiceTest, PrivateImageNeedsASignatureOrTheOwnersKey) {
  Image im = Upload(kVisibilityPrivate);
  try {
    RunToEnd(delivery_->Read(Unsigned(im)));
    FAIL() << "read without credentials";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPermissionDenied);
    EXPECT_EQ(e.slug(), "signature-required");
  }
  // Another user's key is refused; the owner's is let in, privately.
  ContentRequest theirs = Unsigned(im);
  theirs.authenticate = [this]() -> boost::asio::awaitable<User> { co_return other_; };
  EXPECT_THROW(RunToEnd(delivery_->Read(std::move(theirs))), Error);
  ContentRequest mine = Unsigned(im);
  mine.authenticate = [this]() -> boost::asio::awaitable<User> { co_return owner_; };
  Delivery d = RunToEnd(delivery_->Read(std::move(mine)));
  ASSERT_TRUE(d.bytes);
  EXPECT_NE(d.cache_control.find("private"), std::string::npos);
  // The URL the API hands out is signed and works without a key.
  Delivery s = RunToEnd(delivery_->Read(RequestFor(access_->Url(im, {{"w", "100"}}))));
  ASSERT_TRUE(s.bytes);
  EXPECT_NE(s.cache_control.find("private"), std::string::npos);
}

TEST_F(DeliveryServiceTest, KeyIsNotLookedAtWhenNoSignatureIsNeeded) {
  Image im = Upload(kVisibilityPublic);
  int asked = 0;
  ContentRequest r = Unsigned(im);
  r.authenticate = [&asked]() -> boost::asio::awaitable<User> {
    ++asked;
    throw Unauthorized("bad key");
    co_return User{};
  };
  EXPECT_TRUE(RunToEnd(delivery_->Read(std::move(r))).bytes);
  EXPECT_EQ(asked, 0);
}

TEST_F(DeliveryServiceTest, ForgedSignatureIsRefusedBeforeAnyLookup) {
  // No such image: a forged link is 403 all the same, so it costs no database read.
  ContentRequest r;
  r.image_id = "0190c0de-0000-7000-8000-000000000000";
  r.path = ContentAccess::ContentPath(r.image_id);
  r.query = {{"w", "100"}, {"expires", "99999999999"}, {"kid", "k1"}, {"sig", "AAAA"}};
  EXPECT_EQ(ReadFails(*delivery_, r), ErrorCode::kPermissionDenied);
}

TEST_F(DeliveryServiceTest, UnknownParameterOnAnOriginalIs400) {
  Image im = Upload(kVisibilityPublic);
  EXPECT_EQ(ReadFails(*delivery_, Unsigned(im, {{"colour", "red"}})), ErrorCode::kInvalidArgument);
}

TEST_F(DeliveryServiceTest, DeleteRacingAVariantReadIs404) {
  Image im = Upload(kVisibilityPublic);
  // This node has the record cached when another node deletes the image: the read finds
  // the bytes gone, asks the database again and answers 404, not 503.
  RunToEnd(delivery_->Read(Unsigned(im)));
  BlobLocks other_locks;
  ImageService other_node(*meta_, *meta_, *blobs_, other_locks, pools_, metrics_,
                          ImageServiceOptions{});
  RunToEnd(other_node.Delete(owner_, im.id));
  EXPECT_TRUE(RunToEnd(images_->GetReady(im.id)).id == im.id);  // still cached here
  EXPECT_EQ(ReadFails(*delivery_, Unsigned(im, {{"w", "120"}})), ErrorCode::kNotFound);
}

TEST_F(DeliveryServiceTest, MakeVariantIsForTheOwnerOnly) {
  Image im = Upload(kVisibilityPublic);
  TransformSpec spec;
  spec.width = 200;
  MadeVariant m = RunToEnd(delivery_->MakeVariant(owner_, im.id, spec));
  EXPECT_EQ(m.variant.width, 200);
  EXPECT_NE(m.url.find("w=200"), std::string::npos);
  EXPECT_THROW(RunToEnd(delivery_->MakeVariant(other_, im.id, spec)), Error);
}

}  // namespace
}  // namespace imgd
