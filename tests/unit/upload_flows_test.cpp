// The upload flows in process, on SQLite and a filesystem blob store, each ending in the
// shared PublishStep: what each records (one store call), duplicates, size rules, and a
// resumable upload's bytes surviving a failed last step.
#include <gtest/gtest.h>

#include <boost/asio/thread_pool.hpp>
#include <span>

#include "blob/fs_blob_store.h"
#include "core/errors.h"
#include "core/hash.h"
#include "meta/meta_store.h"
#include "run_to_end.h"
#include "service/direct_upload_service.h"
#include "service/presigned_upload_service.h"
#include "service/resumable_upload_service.h"
#include "test_util.h"

namespace imgd {
namespace {

using testing::ReadCorpus;
using testing::RunToEnd;
using testing::TempDir;

// A body in pieces of at most `piece` bytes.
class Pieces final : public ChunkSource {
 public:
  Pieces(std::string bytes, size_t piece) : bytes_(std::move(bytes)), piece_(piece) {}
  boost::asio::awaitable<std::span<const char>> Next() override {
    const size_t n = std::min(piece_, bytes_.size() - at_);
    std::span<const char> out(bytes_.data() + at_, n);
    at_ += n;
    co_return out;
  }

 private:
  std::string bytes_;
  size_t piece_, at_ = 0;
};

class UploadFlowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    meta_ = OpenMetaStore("sqlite://" + (dir_.path() / "meta.db").string());
    meta_->Migrate();
    blobs_ = std::make_unique<FsBlobStore>(dir_.path() / "blobs");
    PublishOptions po;
    po.max_upload_bytes = 1 << 20;
    publish_ = std::make_unique<PublishStep>(*meta_, *meta_, *meta_, *blobs_, locks_, pools_,
                                             metrics_, po);
    direct_ = std::make_unique<DirectUploadService>(*publish_);
    presigned_ = std::make_unique<PresignedUploadService>(
        *publish_, *meta_, *blobs_, pools_, metrics_, signer_, PresignedUploadOptions{});
    ResumableUploadOptions ro;
    ro.max_upload_bytes = 1 << 20;
    resumable_ = std::make_unique<ResumableUploadService>(*publish_, *meta_, *meta_, *blobs_,
                                                          pools_, metrics_, ro);
    owner_.id = "owner-1";
    photo_ = ReadCorpus("real/real_01_skagen_800x533.jpg");
  }

  TempDir dir_;
  boost::asio::thread_pool blocking_{2}, cpu_{1};
  Pools pools_{blocking_, cpu_};
  Metrics metrics_;
  BlobLocks locks_;
  UrlSigner signer_{{{"k1", "a-secret-of-twenty-bytes"}}};
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<FsBlobStore> blobs_;
  std::unique_ptr<PublishStep> publish_;
  std::unique_ptr<DirectUploadService> direct_;
  std::unique_ptr<PresignedUploadService> presigned_;
  std::unique_ptr<ResumableUploadService> resumable_;
  User owner_;
  std::string photo_;
};

TEST_F(UploadFlowsTest, DirectUploadRecordsOnceAndReturnsTheDuplicate) {
  Pieces first(photo_, 4096);
  UploadResult a = RunToEnd(direct_->Upload(owner_, first, UploadMeta{}));
  EXPECT_FALSE(a.duplicate);
  EXPECT_EQ(a.image.sha256, Sha256Hex(photo_));
  EXPECT_EQ(a.image.width, 800);
  Pieces again(photo_, 999);
  UploadResult b = RunToEnd(direct_->Upload(owner_, again, UploadMeta{}));
  EXPECT_TRUE(b.duplicate);
  EXPECT_EQ(b.image.id, a.image.id);
  EXPECT_EQ(meta_->GetBlob(a.image.sha256)->refcount, 1);
  UploadMeta reject;
  reject.policy = DuplicatePolicy::kReject;
  Pieces third(photo_, 4096);
  try {
    RunToEnd(direct_->Upload(owner_, third, reject));
    FAIL() << "duplicate accepted under reject";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kConflict);
    EXPECT_EQ(e.slug(), "duplicate-image");
  }
}

TEST_F(UploadFlowsTest, ValidationThatWaitedPastItsLimitIsRefusedAsOverloadedLeavingNothing) {
  PublishOptions po;
  po.max_validation_wait = std::chrono::nanoseconds(1);  // any hand-over to the pool is longer
  PublishStep strict(*meta_, *meta_, *meta_, *blobs_, locks_, pools_, metrics_, po);
  DirectUploadService direct(strict);
  Pieces body(photo_, 4096);
  try {
    RunToEnd(direct.Upload(owner_, body, UploadMeta{}));
    FAIL() << "a validation that waited past its limit was started";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_EQ(e.slug(), "overloaded");
    EXPECT_EQ(e.retry_after, 1);
  }
  EXPECT_TRUE(meta_->ListImages(owner_.id, 10, "").empty());
  EXPECT_FALSE(meta_->GetBlob(Sha256Hex(photo_)));
  // The same bytes again, without the limit: the refusal left nothing in their way.
  Pieces again(photo_, 4096);
  EXPECT_FALSE(RunToEnd(direct_->Upload(owner_, again, UploadMeta{})).duplicate);
}

TEST_F(UploadFlowsTest, DirectUploadOfSomethingElseLeavesNothing) {
  Pieces text(std::string(5000, 'x'), 1000);
  try {
    RunToEnd(direct_->Upload(owner_, text, UploadMeta{}));
    FAIL() << "not a JPEG, accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupportedFormat);
  }
  EXPECT_TRUE(meta_->ListImages(owner_.id, 10, "").empty());
  int stored = 0;
  blobs_->ForEach("originals/", [&](const std::string&, uint64_t, int64_t) { ++stored; });
  EXPECT_EQ(stored, 0);
}

TEST_F(UploadFlowsTest, PresignedUploadCompletesItsPendingImageOnlyWithTheSignedSize) {
  auto p = RunToEnd(presigned_->CreatePresigned(owner_, UploadMeta{}, photo_.size()));
  EXPECT_EQ(p.image.status, kStatusPending);
  const std::string token = p.url.substr(std::string("/v1/uploads/").size());
  ASSERT_TRUE(PresignedUploadService::IsPresignedToken(token));
  std::string paid_by;
  auto admit = [&](const std::string& user, uint64_t) { paid_by = user; };
  Pieces short_body(photo_.substr(0, 100), 50);
  try {
    RunToEnd(presigned_->CompletePresigned(token, "PUT", std::nullopt, short_body, admit));
    FAIL() << "a body of another size completed the upload";
  } catch (const Error& e) {
    EXPECT_EQ(e.slug(), "size-mismatch");
  }
  EXPECT_EQ(paid_by, owner_.id);  // the key that made the URL pays
  Pieces body(photo_, 8192);
  UploadResult r = RunToEnd(presigned_->CompletePresigned(token, "PUT", photo_.size(), body, {}));
  EXPECT_EQ(r.image.id, p.image.id);
  EXPECT_EQ(meta_->GetImage(p.image.id)->status, kStatusReady);
  Pieces again(photo_, 8192);
  EXPECT_THROW(RunToEnd(presigned_->CompletePresigned(token, "PUT", std::nullopt, again, {})),
               Error);  // used once
  EXPECT_THROW(RunToEnd(presigned_->CompletePresigned(token, "POST", std::nullopt, again, {})),
               Error);  // signed for PUT only
}

TEST_F(UploadFlowsTest, ResumableUploadCompletesWithTheLastByteInOneRecord) {
  ResumableUpload u = RunToEnd(resumable_->CreateResumable(owner_, UploadMeta{}, photo_.size()));
  const size_t half = photo_.size() / 2;
  Pieces first(photo_.substr(0, half), 4096);
  auto p1 = RunToEnd(resumable_->Patch(owner_, u.id, 0, std::nullopt, first));
  EXPECT_EQ(p1.offset, half);
  EXPECT_FALSE(p1.image);
  Pieces wrong(photo_.substr(half), 4096);
  EXPECT_THROW(RunToEnd(resumable_->Patch(owner_, u.id, 0, std::nullopt, wrong)), Error);
  // A declared length past the upload's end is refused before a byte is written.
  Pieces too_long(photo_.substr(half), 4096);
  EXPECT_THROW(RunToEnd(resumable_->Patch(owner_, u.id, half, photo_.size() - half + 1, too_long)),
               Error);
  EXPECT_EQ(RunToEnd(resumable_->Status(owner_, u.id)).offset, half);
  Pieces rest(photo_.substr(half), 4096);
  auto p2 = RunToEnd(resumable_->Patch(owner_, u.id, half, photo_.size() - half, rest));
  ASSERT_TRUE(p2.image);
  EXPECT_EQ(p2.image->image.sha256, Sha256Hex(photo_));
  EXPECT_EQ(meta_->GetUpload(u.id)->image_id, p2.image->image.id);
  auto status = RunToEnd(resumable_->Status(owner_, u.id));
  EXPECT_EQ(status.offset, photo_.size());
  ASSERT_TRUE(status.image);
  EXPECT_EQ(status.image->image.id, p2.image->image.id);
}

TEST_F(UploadFlowsTest, ResumableUploadOfAnotherUserIsRefused) {
  ResumableUpload u = RunToEnd(resumable_->CreateResumable(owner_, UploadMeta{}, 10));
  User other;
  other.id = "other-1";
  try {
    RunToEnd(resumable_->Status(other, u.id));
    FAIL() << "another user read the upload";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPermissionDenied);
  }
}

}  // namespace
}  // namespace imgd
