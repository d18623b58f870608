#include "blob/fs_blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "core/errors.h"
#include "core/ids.h"
#include "obs/store_metrics.h"

namespace imgd {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void ThrowErrno(const std::string& what) {
  throw StoreError(what + ": " + std::strerror(errno));
}

void FsyncPath(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowErrno("open dir " + p.string());
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) ThrowErrno("fsync dir " + p.string());
}

// Creates dir and any missing parents, fsyncing each parent that gained an entry so the
// new directories survive a crash.
void MakeDirsDurable(const fs::path& dir) {
  if (fs::exists(dir)) return;
  MakeDirsDurable(dir.parent_path());
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) ThrowErrno("mkdir " + dir.string());
  FsyncPath(dir.parent_path());
}

void WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      ThrowErrno("write");
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

int64_t MtimeMs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

class FdReader final : public BlobReader {
 public:
  FdReader(int fd, uint64_t size) : fd_(fd), size_(size) {}
  ~FdReader() override { ::close(fd_); }
  uint64_t size() const override { return size_; }
  size_t ReadAt(uint64_t offset, void* buf, size_t n) override {
    size_t done = 0;
    char* p = static_cast<char*>(buf);
    while (done < n) {
      ssize_t r = ::pread(fd_, p + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        ThrowErrno("pread");
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    return done;
  }

 private:
  int fd_;
  uint64_t size_;
};

// A staged file. Anonymous ones (Stage) are unlinked unless committed; resumable ones keep
// their bytes when closed.
class FsStagedBlob final : public StagedBlob {
 public:
  explicit FsStagedBlob(fs::path path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
    if (fd_ < 0) ThrowErrno("create " + path_.string());
  }
  // Opens an existing resumable file at its end; fd is open for appending.
  FsStagedBlob(fs::path path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size), keep_(true) {}
  ~FsStagedBlob() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_ && !keep_) ::unlink(path_.c_str());
  }
  void Write(const void* data, size_t n) override {
    WriteAll(fd_, data, n);
    size_ += n;
  }
  void Finish() override {
    if (::fsync(fd_) != 0) ThrowErrno("fsync " + path_.string());
  }
  uint64_t size() const override { return size_; }
  std::unique_ptr<BlobReader> OpenReader() override {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) ThrowErrno("open " + path_.string());
    return std::make_unique<FdReader>(fd, size_);
  }

  const fs::path& path() const { return path_; }
  void MarkCommitted() { committed_ = true; }
  bool resumable() const { return keep_; }

 private:
  fs::path path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool committed_ = false;
  bool keep_ = false;
};

}  // namespace

bool IsValidBlobKey(std::string_view key) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= key.size()) return false;
  if (key.find('/', slash + 1) != std::string_view::npos) return false;
  std::string_view name = key.substr(slash + 1);
  if (name.size() < 4 || name[0] == '.') return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '/';
    if (!ok) return false;
  }
  return key.find("..") == std::string_view::npos;
}

FsBlobStore::FsBlobStore(fs::path root)
    : root_(std::move(root)), tmp_(root_ / "tmp"), resumable_(root_ / "resumable") {
  MakeDirsDurable(root_);
  MakeDirsDurable(tmp_);
  MakeDirsDurable(resumable_);
}

fs::path FsBlobStore::PathOf(const std::string& key) const {
  if (!IsValidBlobKey(key)) throw std::invalid_argument("invalid blob key: " + key);
  auto slash = key.find('/');
  std::string ns = key.substr(0, slash);
  std::string name = key.substr(slash + 1);
  return root_ / ns / name.substr(0, 2) / name.substr(2, 2) / name;
}

std::unique_ptr<StagedBlob> FsBlobStore::Stage() {
  return std::make_unique<FsStagedBlob>(tmp_ / (RandomToken(12) + ".part"));
}

void FsBlobStore::Commit(StagedBlob& staged, const std::string& key) {
  StoreCallTimer timer("fs", "commit");
  auto& fsb = dynamic_cast<FsStagedBlob&>(staged);
  fs::path dest = PathOf(key);
  MakeDirsDurable(dest.parent_path());
  if (fsb.resumable()) {
    // A resumable upload keeps its bytes until RemoveResumable (a failed record step must
    // not lose what the client sent): publish a second name for them, atomically.
    fs::path link = tmp_ / (RandomToken(12) + ".link");
    if (::link(fsb.path().c_str(), link.c_str()) != 0) ThrowErrno("link " + link.string());
    if (::rename(link.c_str(), dest.c_str()) != 0) {
      const int saved = errno;
      ::unlink(link.c_str());
      errno = saved;
      ThrowErrno("rename " + dest.string());
    }
  } else {
    if (::rename(fsb.path().c_str(), dest.c_str()) != 0) ThrowErrno("rename " + dest.string());
    fsb.MarkCommitted();
  }
  FsyncPath(dest.parent_path());
}

void FsBlobStore::Put(const std::string& key, std::string_view bytes) {
  StoreCallTimer timer("fs", "put");
  auto staged = Stage();
  staged->Write(bytes.data(), bytes.size());
  staged->Finish();
  Commit(*staged, key);
}

std::unique_ptr<BlobReader> FsBlobStore::Open(const std::string& key) {
  StoreCallTimer timer("fs", "open");
  fs::path p = PathOf(key);
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return nullptr;
    ThrowErrno("open " + p.string());
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    ThrowErrno("fstat " + p.string());
  }
  return std::make_unique<FdReader>(fd, static_cast<uint64_t>(st.st_size));
}

std::optional<uint64_t> FsBlobStore::Stat(const std::string& key) {
  StoreCallTimer timer("fs", "stat");
  struct stat st {};
  if (::stat(PathOf(key).c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    ThrowErrno("stat " + key);
  }
  return static_cast<uint64_t>(st.st_size);
}

void FsBlobStore::Remove(const std::string& key) {
  StoreCallTimer timer("fs", "remove");
  fs::path p = PathOf(key);
  if (::unlink(p.c_str()) != 0) {
    if (errno == ENOENT) return;
    ThrowErrno("unlink " + p.string());
  }
  FsyncPath(p.parent_path());
}

void FsBlobStore::ForEach(const std::string& prefix,
                          const std::function<void(const std::string&, uint64_t, int64_t)>& fn) {
  // Walk only the narrowest directory that can hold matching keys: names are sharded by
  // their first four characters, so the variants of one original sit in one directory.
  std::vector<std::string> namespaces;
  fs::path under;  // below the namespace directory
  const auto slash = prefix.find('/');
  std::error_code ec;
  if (slash == std::string::npos) {
    for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_directory() && it->path() != tmp_ && it->path() != resumable_) {
        std::string ns = it->path().filename().string();
        if (ns.rfind(prefix, 0) == 0) namespaces.push_back(ns);
      }
    }
  } else {
    namespaces.push_back(prefix.substr(0, slash));
    const std::string name = prefix.substr(slash + 1);
    if (name.size() >= 2) under /= name.substr(0, 2);
    if (name.size() >= 4) under /= name.substr(2, 2);
  }
  for (const auto& ns : namespaces) {
    const fs::path dir = root_ / ns / under;
    if (ns.empty() || dir == tmp_ || dir == resumable_ || !fs::is_directory(dir, ec)) continue;
    for (fs::recursive_directory_iterator it(dir, ec), rend; !ec && it != rend; it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      std::string key = ns + "/" + it->path().filename().string();
      if (key.rfind(prefix, 0) != 0 || !IsValidBlobKey(key) || PathOf(key) != it->path()) continue;
      struct stat st {};
      if (::stat(it->path().c_str(), &st) != 0) continue;  // removed meanwhile
      fn(key, static_cast<uint64_t>(st.st_size), MtimeMs(st));
    }
  }
}

size_t FsBlobStore::SweepStaging(int64_t older_than_ms) {
  size_t removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(tmp_, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0) continue;
    if (MtimeMs(st) < older_than_ms && ::unlink(it->path().c_str()) == 0) ++removed;
  }
  return removed;
}

namespace {
fs::path ResumablePath(const fs::path& dir, const std::string& upload_id) {
  if (!IsUuid(upload_id)) throw std::invalid_argument("invalid upload id: " + upload_id);
  return dir / upload_id;
}
}  // namespace

std::unique_ptr<StagedBlob> FsBlobStore::OpenResumable(const std::string& upload_id, bool create) {
  fs::path p = ResumablePath(resumable_, upload_id);
  int fd = ::open(p.c_str(), O_RDWR | O_APPEND | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
  if (fd < 0) {
    if (errno == ENOENT && !create) return nullptr;
    ThrowErrno("open " + p.string());
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    ThrowErrno("fstat " + p.string());
  }
  if (create) FsyncPath(resumable_);
  return std::make_unique<FsStagedBlob>(p, fd, static_cast<uint64_t>(st.st_size));
}

void FsBlobStore::RemoveResumable(const std::string& upload_id) {
  if (::unlink(ResumablePath(resumable_, upload_id).c_str()) != 0 && errno != ENOENT) {
    ThrowErrno("unlink upload " + upload_id);
  }
}

void FsBlobStore::ForEachResumable(const std::function<void(const std::string&, int64_t)>& fn) {
  std::error_code ec;
  for (fs::directory_iterator it(resumable_, ec), end; !ec && it != end; it.increment(ec)) {
    std::string id = it->path().filename().string();
    struct stat st {};
    if (!IsUuid(id) || ::stat(it->path().c_str(), &st) != 0) continue;
    fn(id, MtimeMs(st));
  }
}

void FsBlobStore::Ping() {
  if (::access(tmp_.c_str(), W_OK) != 0) ThrowErrno("blob dir not writable " + tmp_.string());
}

}  // namespace imgd
