#include "cli/migrate_command.h"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <set>
#include <vector>

#include "blob/blob_store.h"
#include "cli/progress.h"
#include "core/hash.h"
#include "meta/meta_store.h"

namespace imgd::cli {

void AddMigrateFlags(CLI::App* cmd, MigrateOptions& o) {
  cmd->add_option("--from-meta", o.from_meta, "source metadata store URL");
  cmd->add_option("--to-meta", o.to_meta, "destination metadata store URL");
  cmd->add_option("--from-blob", o.from_blob, "source blob store URL");
  cmd->add_option("--to-blob", o.to_blob, "destination blob store URL");
  cmd->add_option("--max-images", o.max_images, "stop after this many images");
}

namespace {

constexpr int kPage = 500;

// Streams originals/<sha> from one store to the other, verifying the bytes hash to sha.
// Returns the bytes copied (0 when the destination already had them).
uint64_t CopyBlob(BlobStore& from, BlobStore& to, const Image& im,
                  const std::function<void(uint64_t)>& progress) {
  const std::string key = OriginalKey(im.sha256);
  if (auto have = to.Stat(key); have && *have == im.size) return 0;
  auto reader = from.Open(key);
  if (!reader) throw std::runtime_error("the source has no bytes for image " + im.id);
  auto staged = to.Stage();
  Sha256 hasher;
  std::vector<char> buf(1 << 20);
  uint64_t done = 0;
  while (done < reader->size()) {
    size_t n = reader->ReadAt(done, buf.data(), buf.size());
    if (n == 0) break;
    hasher.Update(buf.data(), n);
    staged->Write(buf.data(), n);
    done += n;
    progress(n);
  }
  staged->Finish();
  const std::string got = hasher.FinalHex();
  if (got != im.sha256) {
    throw std::runtime_error("image " + im.id + ": the source bytes hash to " + got + ", not " +
                             im.sha256 + "; nothing written for it");
  }
  to.Commit(*staged, key);
  return done;
}

}  // namespace

int RunMigrate(const MigrateOptions& o) {
  if (o.to_meta.empty() || o.from_blob.empty() || o.to_blob.empty()) {
    std::cerr << "imgd migrate: give --from-meta, --to-meta, --from-blob and --to-blob"
              << std::endl;
    return 2;
  }
  const auto started = std::chrono::steady_clock::now();
  auto from_meta = OpenMetaStore(o.from_meta);
  auto to_meta = OpenMetaStore(o.to_meta);
  auto from_blob = OpenBlobStore(o.from_blob);
  auto to_blob = OpenBlobStore(o.to_blob);
  to_meta->Migrate();

  // Users and keys. An admin of the source is not copied over an existing admin (the
  // destination's admin key is its own).
  size_t users = 0, admins_kept = 0;
  for (std::string after;;) {
    auto page = from_meta->ExportUsers(after, kPage);
    if (page.empty()) break;
    for (const auto& u : page) {
      if (u.user.is_admin && to_meta->HasAdmin() && !to_meta->GetUser(u.user.id)) {
        ++admins_kept;
        continue;
      }
      to_meta->ImportUser(u);
      ++users;
    }
    after = page.back().user.id;
  }

  // What there is to copy, for the progress bar.
  uint64_t total_images = 0, total_bytes = 0;
  for (std::string after;;) {
    auto page = from_meta->ExportImages(after, kPage);
    if (page.empty()) break;
    for (const auto& im : page) {
      ++total_images;
      total_bytes += im.size;
    }
    after = page.back().id;
  }

  ProgressBar bar(::isatty(STDOUT_FILENO) == 1, "images", total_bytes);
  uint64_t images = 0, imported = 0, bytes_copied = 0, bytes_seen = 0, blobs_copied = 0;
  std::set<std::string> copied;  // blobs handled in this run
  for (std::string after;;) {
    auto page = from_meta->ExportImages(after, kPage);
    if (page.empty()) break;
    for (const auto& im : page) {
      if (o.max_images >= 0 && static_cast<int64_t>(images) >= o.max_images) {
        bar.Finish();
        std::cout << "migrate: stopped after " << images << " images (--max-images); run again "
                  << "to continue" << std::endl;
        return 3;
      }
      if (!copied.count(im.sha256)) {
        uint64_t n = CopyBlob(*from_blob, *to_blob, im,
                              [&](uint64_t chunk) { bar.Update(bytes_seen + chunk); });
        if (n > 0) ++blobs_copied;
        bytes_copied += n;
        copied.insert(im.sha256);
      }
      if (to_meta->ImportImage(im)) ++imported;
      ++images;
      bytes_seen += im.size;
      bar.SetLabel(std::to_string(images) + "/" + std::to_string(total_images) + " images");
      bar.Update(bytes_seen);
    }
    after = page.back().id;
  }
  bar.Update(bytes_seen, true);
  bar.Finish();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "migrate: " << users << " users, " << images << " images (" << imported << " new), "
            << blobs_copied << " blobs copied (" << bytes_copied << " bytes, each verified), "
            << admins_kept << " source admin(s) kept out, " << secs << " s" << std::endl;
  return 0;
}

}  // namespace imgd::cli
