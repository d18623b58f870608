// TransformService in process, on a real filesystem blob store: which variants are kept in
// the store (the second time a one-off size is made; presets at once), the bounds on what
// is kept, costs refused before the pool, and what a released original takes with it.
#include "service/transform_service.h"

#include <gtest/gtest.h>

#include <boost/asio/thread_pool.hpp>
#include <set>

#include "blob/fs_blob_store.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/offload.h"
#include "image/vips_decode.h"
#include "run_to_end.h"
#include "test_util.h"

namespace imgd {
namespace {

using testing::ReadCorpus;
using testing::RunToEnd;
using testing::TempDir;

class TransformServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { VipsStartup("imgd_unit_tests"); }

  void SetUp() override {
    blobs_ = std::make_unique<FsBlobStore>(dir_.path() / "blobs");
    const std::string bytes = ReadCorpus("real/real_01_skagen_800x533.jpg");
    image_.id = "img-1";
    image_.sha256 = Sha256Hex(bytes);
    image_.width = 800;
    image_.height = 533;
    blobs_->Put(OriginalKey(image_.sha256), bytes);
  }

  std::unique_ptr<TransformService> Make(TransformServiceOptions opts) {
    return std::make_unique<TransformService>(*blobs_, Pools{blocking_, cpu_}, metrics_, opts);
  }
  Variant Get(TransformService& s, int width, int height = 0) {
    TransformSpec spec;
    spec.width = width;
    spec.height = height;
    return RunToEnd(s.Get(image_, spec));
  }
  // The blocking pool has one thread: a task queued now runs after the variant stores
  // queued before it.
  void Settle() {
    RunToEnd(Offload(blocking_, [] { return 0; }));
  }
  std::set<std::string> Stored() {
    std::set<std::string> keys;
    blobs_->ForEach(std::string(kVariantsNamespace),
                    [&](const std::string& k, uint64_t, int64_t) { keys.insert(k); });
    return keys;
  }

  TempDir dir_;
  std::unique_ptr<FsBlobStore> blobs_;
  boost::asio::thread_pool blocking_{1};
  boost::asio::thread_pool cpu_{1};
  Metrics metrics_;
  Image image_;
};

TEST_F(TransformServiceTest, AOneOffSizeIsStoredTheSecondTimeItIsMadeAPresetAtOnce) {
  TransformServiceOptions opts;
  opts.cache_bytes = 0;  // every Get makes the variant again
  opts.limits.allowed_sizes = {{120, 0}};
  auto s = Make(opts);
  Variant v = Get(*s, 300);
  EXPECT_EQ(v.width, 300);
  EXPECT_EQ(v.height, 200);
  Settle();
  EXPECT_TRUE(Stored().empty());
  Get(*s, 300);
  Settle();
  EXPECT_EQ(Stored().size(), 1u);
  Get(*s, 120);  // a preset: kept the first time
  Settle();
  EXPECT_EQ(Stored().size(), 2u);
}

TEST_F(TransformServiceTest, StoredVariantsStayWithinTheirBoundsLeastRecentlyUsedFirst) {
  TransformServiceOptions opts;
  opts.cache_bytes = 0;
  opts.variant_bounds.per_original_count = 3;
  for (int w = 100; w <= 600; w += 50) opts.limits.allowed_sizes.push_back({w, 0});
  auto s = Make(opts);
  for (int w = 100; w <= 300; w += 50) Get(*s, w);  // 5 presets made
  Settle();
  EXPECT_EQ(Stored().size(), 3u);
  const std::string newest = TransformService::VariantKey(image_.sha256, [] {
    TransformSpec spec;
    spec.width = 300;
    return spec;
  }());
  EXPECT_TRUE(Stored().count(newest));
  // Reading a kept variant from the store is a use: 200 outlives 250 and 300, which go
  // as 350 and 400 are stored.
  Get(*s, 200);
  Get(*s, 350);
  Get(*s, 400);
  Settle();
  std::set<std::string> kept = Stored();
  EXPECT_EQ(kept.size(), 3u);
  TransformSpec w200;
  w200.width = 200;
  EXPECT_TRUE(kept.count(TransformService::VariantKey(image_.sha256, w200)));
}

TEST_F(TransformServiceTest, AnOversizedVariantIsRefusedBeforeThePool) {
  auto s = Make(TransformServiceOptions{});
  TransformSpec spec;
  spec.width = spec.height = 8192;  // inside, enlarged: 8192 x 5458, over 40 M pixels
  spec.fit = Fit::kInside;
  spec.enlarge = true;
  try {
    RunToEnd(s->Get(image_, spec));
    FAIL() << "expected 400";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(e.slug(), "output-too-large");
  }
  EXPECT_EQ(metrics_.Render().find("imgd_transforms_total{"), std::string::npos);
}

TEST_F(TransformServiceTest, DroppingAnOriginalsVariantsEmptiesStoreAndMemory) {
  TransformServiceOptions opts;
  opts.limits.allowed_sizes = {{150, 0}, {250, 0}};
  auto s = Make(opts);
  Get(*s, 150);
  Get(*s, 250);
  Settle();
  EXPECT_EQ(Stored().size(), 2u);
  RunToEnd(Offload(blocking_, [&] {
    s->DropVariants(image_.sha256);
    return 0;
  }));
  EXPECT_TRUE(Stored().empty());
  EXPECT_NE(metrics_.Render().find("imgd_variant_store_entries 0"), std::string::npos);
}

}  // namespace
}  // namespace imgd
