#include "blob/s3_blob_store.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <thread>
#include <tuple>

#include "core/clock.h"
#include "core/errors.h"
#include "core/ids.h"

namespace imgd {
namespace {

[[noreturn]] void Fail(const std::string& what, const S3Response& r) {
  auto code = XmlValues(r.body, "Code");
  throw StoreError("s3 " + what + ": HTTP " + std::to_string(r.status) +
                   (code.empty() ? "" : " " + code[0]));
}

void Expect(const std::string& what, const S3Response& r, std::initializer_list<unsigned> ok) {
  for (unsigned s : ok) {
    if (r.status == s) return;
  }
  Fail(what, r);
}

// "2026-11-25T13:35:31.000Z" → ms since the epoch.
int64_t ParseIsoMs(const std::string& s) {
  std::tm tm{};
  if (!strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

// Reads an object with ranged GETs, fetching ahead: a read that continues where the last
// one ended is served from a window of up to kWindow bytes fetched in one request, so
// sequential readers (validation, downloads) cost one request per window, not per read.
class S3Reader final : public BlobReader {
 public:
  static constexpr uint64_t kWindow = 8ull << 20;
  S3Reader(std::shared_ptr<S3Client> client, std::string key, uint64_t size)
      : client_(std::move(client)), key_(std::move(key)), size_(size) {}
  uint64_t size() const override { return size_; }
  size_t ReadAt(uint64_t offset, void* buf, size_t n) override {
    if (offset >= size_ || n == 0) return 0;
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
    if (offset < window_at_ || offset + n > window_at_ + window_.size()) {
      // A read outside the window: fetch a new one from here (at least what was asked).
      const uint64_t want = std::min<uint64_t>(std::max<uint64_t>(n, kWindow), size_ - offset);
      window_.clear();
      window_.reserve(want);
      window_at_ = offset;
      unsigned status = client_->Stream(key_, offset, want, [&](const char* p, size_t len) {
        window_.append(p, std::min<size_t>(len, want - window_.size()));
        return window_.size() < want;
      });
      if (status == 404) throw StoreError("s3 object " + key_ + " vanished while being read");
      if (status != 200 && status != 206) {
        throw StoreError("s3 GET " + key_ + ": HTTP " + std::to_string(status));
      }
    }
    const size_t from = static_cast<size_t>(offset - window_at_);
    const size_t take = std::min(n, window_.size() - std::min(from, window_.size()));
    std::memcpy(buf, window_.data() + from, take);
    return take;
  }

 private:
  std::shared_ptr<S3Client> client_;
  std::string key_;
  uint64_t size_;
  std::string window_;
  uint64_t window_at_ = 0;
};

// Bytes of an upload: in memory while below one part, then a multipart upload to a
// staging key.
class S3Staged final : public StagedBlob {
 public:
  S3Staged(std::shared_ptr<S3Client> client, size_t part_size)
      : client_(std::move(client)), part_size_(part_size), key_("staging/" + RandomToken(16)) {}
  // An object already complete under key (uploaded by a client with a pre-signed URL).
  S3Staged(std::shared_ptr<S3Client> client, size_t part_size, std::string key, uint64_t size,
           std::string etag)
      : client_(std::move(client)),
        part_size_(part_size),
        key_(std::move(key)),
        size_(size),
        upload_id_("adopted"),
        completed_(true),
        etag_(std::move(etag)) {}
  ~S3Staged() override {
    try {
      if (!upload_id_.empty() && !completed_) {
        client_->Send({"DELETE", key_, {{"uploadId", upload_id_}}, {}, {}, true});
      } else if (completed_ && !committed_) {
        client_->Send({"DELETE", key_, {}, {}, {}, true});
      }
    } catch (const std::exception&) {
      // SweepStaging removes what is left.
    }
  }

  void Write(const void* data, size_t n) override {
    buffer_.append(static_cast<const char*>(data), n);
    size_ += n;
    while (buffer_.size() >= part_size_) {
      UploadPart(std::string_view(buffer_).substr(0, part_size_));
      buffer_.erase(0, part_size_);
    }
  }

  void Finish() override {
    if (upload_id_.empty() || completed_) return;  // small: stays in memory until Commit
    if (!buffer_.empty()) UploadPart(buffer_);
    buffer_.clear();
    std::string xml = "<CompleteMultipartUpload>";
    for (size_t i = 0; i < etags_.size(); ++i) {
      xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + etags_[i] +
             "</ETag></Part>";
    }
    xml += "</CompleteMultipartUpload>";
    auto r = client_->Send({"POST", key_, {{"uploadId", upload_id_}}, {}, xml, true});
    Expect("complete " + key_, r, {200});
    if (r.body.find("<Error>") != std::string::npos) Fail("complete " + key_, r);
    completed_ = true;
  }

  uint64_t size() const override { return size_; }

  std::unique_ptr<BlobReader> OpenReader() override {
    if (upload_id_.empty()) return std::make_unique<MemoryReader>(buffer_);
    return std::make_unique<S3Reader>(client_, key_, size_);
  }

  // Publishes under key: one PUT for a small object, a server-side copy for a large one.
  void CommitTo(const std::string& key) {
    if (upload_id_.empty()) {
      Expect("PUT " + key, client_->Send({"PUT", key, {}, {}, buffer_, true}), {200});
      committed_ = true;
      return;
    }
    const auto& cfg = client_->config();
    std::vector<std::pair<std::string, std::string>> headers = {
        {"x-amz-copy-source", "/" + cfg.bucket + "/" + cfg.prefix + key_}};
    // An adopted object is copied only if it is still the version that was read.
    if (!etag_.empty()) headers.emplace_back("x-amz-copy-source-if-match", etag_);
    auto r = client_->Send({"PUT", key, {}, headers, {}, true});
    if (r.status == 412) {
      throw StagedBlobChanged("the uploaded object " + key_ + " changed while being completed");
    }
    Expect("copy to " + key, r, {200});
    if (r.body.find("<Error>") != std::string::npos) Fail("copy to " + key, r);
    client_->Send({"DELETE", key_, {}, {}, {}, true});
    committed_ = true;
  }

 private:
  class MemoryReader final : public BlobReader {
   public:
    explicit MemoryReader(const std::string& bytes) : bytes_(bytes) {}
    uint64_t size() const override { return bytes_.size(); }
    size_t ReadAt(uint64_t offset, void* buf, size_t n) override {
      if (offset >= bytes_.size()) return 0;
      n = static_cast<size_t>(std::min<uint64_t>(n, bytes_.size() - offset));
      std::memcpy(buf, bytes_.data() + offset, n);
      return n;
    }

   private:
    const std::string& bytes_;
  };

  void UploadPart(std::string_view part) {
    if (upload_id_.empty()) {
      auto r = client_->Send({"POST", key_, {{"uploads", ""}}, {}, {}, false});
      Expect("create multipart " + key_, r, {200});
      auto ids = XmlValues(r.body, "UploadId");
      if (ids.empty()) Fail("create multipart " + key_, r);
      upload_id_ = ids[0];
    }
    const std::string number = std::to_string(etags_.size() + 1);
    auto r = client_->Send(
        {"PUT", key_, {{"partNumber", number}, {"uploadId", upload_id_}}, {}, part, true});
    Expect("upload part " + number + " of " + key_, r, {200});
    etags_.push_back(r.Header("etag"));
  }

  std::shared_ptr<S3Client> client_;
  size_t part_size_;
  std::string key_;
  std::string buffer_;
  uint64_t size_ = 0;
  std::string upload_id_;
  std::vector<std::string> etags_;
  bool completed_ = false;
  bool committed_ = false;
  std::string etag_;  // of an adopted object: the version that was read
};

// A resumable upload as chunk objects "resumable/<id>.<start offset, 20 digits>", one or
// more per request, plus "resumable/<id>.info" marking that the upload exists. Chunks are
// whole objects, so what was received can always be read back (to rebuild a running hash
// after a restart); Commit streams them, in order, through a multipart staging upload to
// the final key and deletes them.
class S3Resumable final : public StagedBlob {
 public:
  struct Chunk {
    uint64_t offset;
    uint64_t size;
    std::string key;
  };
  S3Resumable(std::shared_ptr<S3Client> client, size_t part_size, std::string id,
              std::vector<Chunk> chunks)
      : client_(std::move(client)),
        part_size_(part_size),
        id_(std::move(id)),
        chunks_(std::move(chunks)) {
    for (const auto& c : chunks_) durable_ += c.size;
  }

  static std::string ChunkKey(const std::string& id, uint64_t offset) {
    char digits[32];
    std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(offset));
    return "resumable/" + id + "." + digits;
  }

  void Write(const void* data, size_t n) override {
    buffer_.append(static_cast<const char*>(data), n);
    if (buffer_.size() >= part_size_) Flush();
  }
  void Finish() override { Flush(); }
  uint64_t size() const override { return durable_ + buffer_.size(); }

  std::unique_ptr<BlobReader> OpenReader() override {
    Flush();
    return std::make_unique<ChunkReader>(client_, chunks_, durable_);
  }

  void CommitTo(const std::string& key) {
    Flush();
    S3Staged staged(client_, part_size_);
    auto reader = OpenReader();
    std::vector<char> buf(1 << 20);
    for (uint64_t off = 0; off < durable_;) {
      size_t n = reader->ReadAt(off, buf.data(), buf.size());
      if (n == 0) throw StoreError("s3 resumable upload " + id_ + " is shorter than its size");
      staged.Write(buf.data(), n);
      off += n;
    }
    staged.Finish();
    staged.CommitTo(key);
  }

 private:
  class ChunkReader final : public BlobReader {
   public:
    ChunkReader(std::shared_ptr<S3Client> client, std::vector<Chunk> chunks, uint64_t size)
        : client_(std::move(client)), chunks_(std::move(chunks)), size_(size) {}
    uint64_t size() const override { return size_; }
    size_t ReadAt(uint64_t offset, void* buf, size_t n) override {
      size_t done = 0;
      char* out = static_cast<char*>(buf);
      for (size_t i = 0; i < chunks_.size() && done < n; ++i) {
        const Chunk& c = chunks_[i];
        const uint64_t at = offset + done;
        if (at < c.offset || at >= c.offset + c.size) continue;
        // Keep the current chunk's reader: its read-ahead window serves the next reads.
        if (!reader_ || reader_index_ != i) {
          reader_ = std::make_unique<S3Reader>(client_, c.key, c.size);
          reader_index_ = i;
        }
        size_t want = static_cast<size_t>(std::min<uint64_t>(n - done, c.offset + c.size - at));
        size_t got = reader_->ReadAt(at - c.offset, out + done, want);
        done += got;
        if (got < want) break;
      }
      return done;
    }

   private:
    std::shared_ptr<S3Client> client_;
    std::vector<Chunk> chunks_;
    uint64_t size_;
    std::unique_ptr<S3Reader> reader_;
    size_t reader_index_ = 0;
  };

  void Flush() {
    if (buffer_.empty()) return;
    const std::string key = ChunkKey(id_, durable_);
    Expect("PUT " + key, client_->Send({"PUT", key, {}, {}, buffer_, true}), {200});
    chunks_.push_back({durable_, buffer_.size(), key});
    durable_ += buffer_.size();
    buffer_.clear();
  }

  std::shared_ptr<S3Client> client_;
  size_t part_size_;
  std::string id_;
  std::vector<Chunk> chunks_;
  uint64_t durable_ = 0;
  std::string buffer_;
};

// Keys and sizes of the objects whose keys start with prefix (below the store's prefix).
std::vector<std::tuple<std::string, uint64_t, int64_t>> List(S3Client& client,
                                                             const std::string& prefix) {
  std::vector<std::tuple<std::string, uint64_t, int64_t>> out;
  const std::string& root = client.config().prefix;
  std::string token;
  for (;;) {
    std::vector<std::pair<std::string, std::string>> q = {{"list-type", "2"},
                                                          {"prefix", root + prefix}};
    if (!token.empty()) q.emplace_back("continuation-token", token);
    auto r = client.Send({"GET", "", q, {}, {}, true});
    Expect("list " + prefix, r, {200});
    for (const auto& item : XmlValues(r.body, "Contents")) {
      auto keys = XmlValues(item, "Key");
      auto sizes = XmlValues(item, "Size");
      auto dates = XmlValues(item, "LastModified");
      if (keys.empty() || sizes.empty() || keys[0].compare(0, root.size(), root) != 0) continue;
      out.emplace_back(keys[0].substr(root.size()), std::stoull(sizes[0]),
                       dates.empty() ? 0 : ParseIsoMs(dates[0]));
    }
    auto next = XmlValues(r.body, "NextContinuationToken");
    auto truncated = XmlValues(r.body, "IsTruncated");
    if (next.empty() || truncated.empty() || truncated[0] != "true") break;
    token = next[0];
  }
  return out;
}

}  // namespace

S3BlobStore::S3BlobStore(S3Config cfg, size_t part_size)
    : client_(std::make_shared<S3Client>(std::move(cfg))), part_size_(part_size) {
  if (part_size_ < (5u << 20)) throw std::invalid_argument("S3 parts must be at least 5 MiB");
  // An engine starting or overloaded may answer oddly (400 seen): ~2 s of tries, not one.
  S3Response r;
  for (int attempt = 0;; ++attempt) {
    r = client_->Send({"HEAD", "", {}, {}, {}, true});
    if (r.status == 200 || r.status == 404 || r.status == 403 || attempt >= 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200 * (attempt + 1)));
  }
  if (r.status == 404) r = client_->Send({"PUT", "", {}, {}, {}, true});  // create it
  Expect("bucket " + client_->config().bucket, r, {200, 409});
}

std::unique_ptr<StagedBlob> S3BlobStore::Stage() {
  return std::make_unique<S3Staged>(client_, part_size_);
}

void S3BlobStore::Commit(StagedBlob& staged, const std::string& key) {
  if (!IsValidBlobKey(key)) throw std::invalid_argument("invalid blob key: " + key);
  if (auto* resumable = dynamic_cast<S3Resumable*>(&staged)) {
    resumable->CommitTo(key);
    return;
  }
  dynamic_cast<S3Staged&>(staged).CommitTo(key);
}

void S3BlobStore::Put(const std::string& key, std::string_view bytes) {
  if (!IsValidBlobKey(key)) throw std::invalid_argument("invalid blob key: " + key);
  Expect("PUT " + key, client_->Send({"PUT", key, {}, {}, bytes, true}), {200});
}

std::unique_ptr<BlobReader> S3BlobStore::Open(const std::string& key) {
  auto size = Stat(key);
  if (!size) return nullptr;
  return std::make_unique<S3Reader>(client_, key, *size);
}

std::optional<uint64_t> S3BlobStore::Stat(const std::string& key) {
  if (!IsValidBlobKey(key)) throw std::invalid_argument("invalid blob key: " + key);
  auto r = client_->Send({"HEAD", key, {}, {}, {}, true});
  if (r.status == 404) return std::nullopt;
  Expect("HEAD " + key, r, {200});
  return std::stoull(r.Header("content-length"));
}

void S3BlobStore::Remove(const std::string& key) {
  if (!IsValidBlobKey(key)) throw std::invalid_argument("invalid blob key: " + key);
  Expect("DELETE " + key, client_->Send({"DELETE", key, {}, {}, {}, true}), {204, 200, 404});
}

void S3BlobStore::ForEach(const std::string& prefix,
                          const std::function<void(const std::string&, uint64_t, int64_t)>& fn) {
  for (const auto& [key, size, mtime] : List(*client_, prefix)) {
    if (key.rfind("staging/", 0) == 0 || key.rfind("resumable/", 0) == 0 || !IsValidBlobKey(key)) {
      continue;
    }
    fn(key, size, mtime);
  }
}

size_t S3BlobStore::SweepStaging(int64_t older_than_ms) {
  size_t removed = 0;
  const std::string& root = client_->config().prefix;
  // Multipart uploads left by a crash.
  auto r =
      client_->Send({"GET", "", {{"uploads", ""}, {"prefix", root + "staging/"}}, {}, {}, true});
  if (r.status == 200) {
    for (const auto& item : XmlValues(r.body, "Upload")) {
      auto keys = XmlValues(item, "Key");
      auto ids = XmlValues(item, "UploadId");
      auto started = XmlValues(item, "Initiated");
      if (keys.empty() || ids.empty() || started.empty()) continue;
      if (ParseIsoMs(started[0]) >= older_than_ms) continue;
      client_->Send({"DELETE", keys[0].substr(root.size()), {{"uploadId", ids[0]}}, {}, {}, true});
      ++removed;
    }
  }
  // Completed staging objects never committed.
  for (const auto& [key, size, mtime] : List(*client_, "staging/")) {
    if (mtime >= older_than_ms) continue;
    client_->Send({"DELETE", key, {}, {}, {}, true});
    ++removed;
  }
  return removed;
}

void S3BlobStore::Ping() {
  Expect("bucket " + client_->config().bucket, client_->Send({"HEAD", "", {}, {}, {}, true}),
         {200});
}

std::optional<std::string> S3BlobStore::PresignPut(const std::string& key, uint64_t size,
                                                   int64_t expires_ms) {
  // Straight to the bucket (clients must reach its endpoint, then complete with POST
  // /v1/images/{id}/complete), unless configured with presign=imgd.
  if (!client_->config().presign_bucket) return std::nullopt;
  if (!IsValidBlobKey(key)) throw std::invalid_argument("invalid blob key: " + key);
  const int64_t seconds = std::max<int64_t>(1, (expires_ms - NowMs() + 999) / 1000);
  // Content-Length signed: the bucket refuses a PUT of any other size.
  return client_->Presign("PUT", key, seconds, {{"content-length", std::to_string(size)}});
}

std::unique_ptr<StagedBlob> S3BlobStore::AdoptStaged(const std::string& key) {
  if (!IsValidBlobKey(key)) throw std::invalid_argument("invalid blob key: " + key);
  auto r = client_->Send({"HEAD", key, {}, {}, {}, true});
  if (r.status == 404) return nullptr;
  Expect("HEAD " + key, r, {200});
  // The version read now is the one hashed, validated and committed (see CommitTo).
  return std::make_unique<S3Staged>(client_, part_size_, key,
                                    std::stoull(r.Header("content-length")), r.Header("etag"));
}

std::unique_ptr<StagedBlob> S3BlobStore::OpenResumable(const std::string& upload_id, bool create) {
  if (!IsUuid(upload_id)) throw std::invalid_argument("invalid upload id: " + upload_id);
  std::vector<S3Resumable::Chunk> chunks;
  bool exists = false;
  for (const auto& [key, size, mtime] : List(*client_, "resumable/" + upload_id + ".")) {
    if (key == "resumable/" + upload_id + ".info") {
      exists = true;
      continue;
    }
    const std::string digits = key.substr(key.rfind('.') + 1);
    chunks.push_back({std::stoull(digits), size, key});
  }
  if (!exists) {
    if (!create) return nullptr;
    Put("resumable/" + upload_id + ".info", "");
  }
  // Listing order is key order, and the zero-padded offsets sort numerically. A chunk
  // that does not continue the ones before it can only be a stray duplicate: stop there.
  std::vector<S3Resumable::Chunk> contiguous;
  uint64_t next = 0;
  for (const auto& c : chunks) {
    if (c.offset != next) break;
    contiguous.push_back(c);
    next += c.size;
  }
  return std::make_unique<S3Resumable>(client_, part_size_, upload_id, std::move(contiguous));
}

void S3BlobStore::RemoveResumable(const std::string& upload_id) {
  if (!IsUuid(upload_id)) throw std::invalid_argument("invalid upload id: " + upload_id);
  for (const auto& [key, size, mtime] : List(*client_, "resumable/" + upload_id + ".")) {
    Remove(key);
  }
}

void S3BlobStore::ForEachResumable(const std::function<void(const std::string&, int64_t)>& fn) {
  std::map<std::string, int64_t> latest;
  for (const auto& [key, size, mtime] : List(*client_, "resumable/")) {
    const std::string name = key.substr(std::string("resumable/").size());
    const std::string id = name.substr(0, name.find('.'));
    if (IsUuid(id)) latest[id] = std::max(latest[id], mtime);
  }
  for (const auto& [id, mtime] : latest) fn(id, mtime);
}

}  // namespace imgd
