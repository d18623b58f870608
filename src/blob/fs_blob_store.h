#pragma once
// Content-addressed filesystem store. Layout under root:
//   <ns>/<n0n1>/<n2n3>/<name>   committed objects (fan-out keeps directories small)
//   tmp/<random>.part           staged objects
//   resumable/<upload id>       resumable uploads in progress
// Durability: write temp, fsync, rename into place, fsync the directory.
#include <filesystem>

#include "blob/blob_store.h"

namespace imgd {

class FsBlobStore final : public BlobStore {
 public:
  explicit FsBlobStore(std::filesystem::path root);

  std::unique_ptr<StagedBlob> Stage() override;
  void Commit(StagedBlob& staged, const std::string& key) override;
  void Put(const std::string& key, std::string_view bytes) override;
  std::unique_ptr<BlobReader> Open(const std::string& key) override;
  std::optional<uint64_t> Stat(const std::string& key) override;
  void Remove(const std::string& key) override;
  void ForEach(const std::string& prefix,
               const std::function<void(const std::string&, uint64_t, int64_t)>& fn) override;
  size_t SweepStaging(int64_t older_than_ms) override;
  void Ping() override;
  std::unique_ptr<StagedBlob> OpenResumable(const std::string& upload_id, bool create) override;
  void RemoveResumable(const std::string& upload_id) override;
  void ForEachResumable(const std::function<void(const std::string&, int64_t)>& fn) override;

  // Filesystem path of key (exists or not).
  std::filesystem::path PathOf(const std::string& key) const;
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
  std::filesystem::path tmp_;
  std::filesystem::path resumable_;
};

}  // namespace imgd
